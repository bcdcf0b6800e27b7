//! The domain's module graph: which top-level module names which (`crate::…`
//! paths outside the tests), checked for cycles and printed in order — the
//! order `docs/ARCHITECTURE.md` states.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::Result;

/// Module → the modules it names.
pub(crate) type Graph = BTreeMap<String, BTreeSet<String>>;

/// Reads the graph of the crate whose `src` is `dir`.
pub(crate) fn graph(dir: &Path) -> Result<Graph> {
    let mut graph = Graph::new();
    collect(dir, dir, &mut graph)?;
    Ok(graph)
}

fn collect(root: &Path, dir: &Path, graph: &mut Graph) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(root, &path, graph)?;
            continue;
        }
        if path.extension().is_none_or(|ext| ext != "rs") {
            continue;
        }
        let relative = path.strip_prefix(root)?;
        let first = relative
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .unwrap_or_default();
        let module = first.strip_suffix(".rs").unwrap_or(first).to_owned();
        if module == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(&path)?;
        let named = graph.entry(module.clone()).or_default();
        for used in names(&text) {
            if used != module {
                named.insert(used);
            }
        }
    }
    Ok(())
}

/// The top-level modules a file names through `crate::`, its tests left out.
fn names(text: &str) -> BTreeSet<String> {
    let code: String = text
        .split("#[cfg(test)]")
        .next()
        .unwrap_or_default()
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a::X, b::{Y, Z}}`: the first segment of each item.
            let mut depth = 0;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        rest = &group[i..];
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && (c.is_alphanumeric() || c == '_') => {
                        out.insert(ident(&group[i..]));
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            out.insert(ident(rest));
        }
    }
    out.retain(|name| !name.is_empty() && name.chars().next().is_some_and(char::is_lowercase));
    out
}

fn ident(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The modules in layers (each names only modules of earlier layers), or
/// the modules that form a cycle.
pub(crate) fn layers(graph: &Graph) -> Result<Vec<Vec<String>>, Vec<String>> {
    let mut placed: BTreeMap<&str, usize> = BTreeMap::new();
    let mut layers: Vec<Vec<String>> = Vec::new();
    while placed.len() < graph.len() {
        let ready: Vec<&String> = graph
            .iter()
            .filter(|(name, _)| !placed.contains_key(name.as_str()))
            .filter(|(_, deps)| {
                deps.iter()
                    .all(|d| placed.contains_key(d.as_str()) || !graph.contains_key(d))
            })
            .map(|(name, _)| name)
            .collect();
        if ready.is_empty() {
            let cyclic = graph
                .keys()
                .filter(|name| !placed.contains_key(name.as_str()))
                .filter(|name| on_cycle(graph, name))
                .cloned()
                .collect();
            return Err(cyclic);
        }
        for name in &ready {
            placed.insert(name.as_str(), layers.len());
        }
        layers.push(ready.into_iter().cloned().collect());
    }
    Ok(layers)
}

/// Whether `start` reaches itself.
fn on_cycle(graph: &Graph, start: &str) -> bool {
    let mut stack: Vec<&str> = graph[start].iter().map(String::as_str).collect();
    let mut seen = BTreeSet::new();
    while let Some(name) = stack.pop() {
        if name == start {
            return true;
        }
        if seen.insert(name)
            && let Some(deps) = graph.get(name)
        {
            stack.extend(deps.iter().map(String::as_str));
        }
    }
    false
}

/// `a, b → c → d`: the order as ARCHITECTURE.md writes it.
pub(crate) fn order(layers: &[Vec<String>]) -> String {
    layers
        .iter()
        .map(|layer| layer.join(", "))
        .collect::<Vec<_>>()
        .join(" → ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &[&str])]) -> Graph {
        edges
            .iter()
            .map(|(m, deps)| {
                (
                    (*m).to_owned(),
                    deps.iter().map(|d| (*d).to_owned()).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn paths_and_groups_are_read_and_tests_left_out() {
        let text = "use crate::ids::UserId;\nuse crate::{auth::{A, B}, error::E};\n\
                    fn f() { crate::amr::Amr::PWD; }\n// crate::commented::X\n\
                    #[cfg(test)]\nmod tests { use crate::testonly::X; }";
        let names: Vec<String> = names(text).into_iter().collect();
        assert_eq!(names, ["amr", "auth", "error", "ids"]);
    }

    #[test]
    fn layers_follow_the_edges_and_cycles_are_named() {
        let ok = graph(&[("a", &[]), ("b", &["a"]), ("c", &["a", "b"]), ("d", &[])]);
        assert_eq!(order(&layers(&ok).unwrap()), "a, d → b → c");
        let cyclic = graph(&[("a", &[]), ("b", &["c", "a"]), ("c", &["b"]), ("d", &["b"])]);
        assert_eq!(layers(&cyclic).unwrap_err(), ["b", "c"]);
    }
}
