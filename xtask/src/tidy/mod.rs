//! `cargo xtask tidy`: the architecture invariants of `docs/ARCHITECTURE.md`,
//! checked from `cargo metadata` (after rust-analyzer's `tidy.rs`). Run by
//! `cargo xtask test`.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::{cargo, root};

mod modules;

/// Crates that do I/O (or bring a C library): the domain must depend on none of them.
const IO_CRATES: [&str; 12] = [
    "sqlx",
    "axum",
    "fred",
    "moka",
    "reqwest",
    "hyper",
    "tower",
    "tower-http",
    "oauth2",
    "lettre",
    "webauthn-rs",
    "openssl",
];

/// What a workspace crate is, and so what it may depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `domain`: no I/O crate and no workspace crate.
    Core,
    /// Storage, caches, providers, mail, WebAuthn and the front doors: `domain`
    /// and edge support, never one another.
    Adapter,
    /// What every front door shares (`http-kit`): `domain` alone.
    EdgeSupport,
    /// The API's contract (`api-types`): plain data, no workspace crate.
    Contract,
    /// The binary: wires everything; never a dev crate.
    App,
    /// Fixtures and tooling (`testkit`: below every crate; `xtask`: anything).
    Dev,
}

/// Every workspace crate, classified; tidy fails on one not listed.
const CRATES: [(&str, Kind); 13] = [
    ("domain", Kind::Core),
    ("repo-postgres", Kind::Adapter),
    ("cache-redis", Kind::Adapter),
    ("federation", Kind::Adapter),
    ("mail", Kind::Adapter),
    ("passkeys", Kind::Adapter),
    ("api-http", Kind::Adapter),
    ("ui", Kind::Adapter),
    ("http-kit", Kind::EdgeSupport),
    ("api-types", Kind::Contract),
    ("app", Kind::App),
    ("testkit", Kind::Dev),
    ("xtask", Kind::Dev),
];

fn kind_of(name: &str) -> Option<Kind> {
    CRATES
        .iter()
        .find(|(crate_name, _)| *crate_name == name)
        .map(|(_, kind)| *kind)
}

pub(crate) fn tidy() -> Result<()> {
    let output = cargo()
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .context("cargo metadata")?;
    if !output.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let metadata: Value = serde_json::from_slice(&output.stdout)?;
    let mut problems = check(&dependencies(&metadata));
    problems.extend(pool_executors(&root().join("crates/repo-postgres/src"))?);
    problems.extend(serialized_domain_types(&root().join("crates/domain/src"))?);
    match modules::layers(&modules::graph(&root().join("crates/domain/src"))?) {
        Ok(layers) => {
            let order = modules::order(&layers);
            println!("xtask: tidy: domain modules: {order}");
            let architecture = std::fs::read_to_string(root().join("docs/ARCHITECTURE.md"))?;
            let stated = architecture
                .replace('`', "")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            if !stated.contains(&order) {
                problems.push(format!(
                    "docs/ARCHITECTURE.md does not state the domain's module order: {order}"
                ));
            }
        }
        Err(cycle) => problems.push(format!(
            "domain modules form a cycle: {} (each names another through crate::…)",
            cycle.join(", ")
        )),
    }
    if !problems.is_empty() {
        bail!(
            "architecture invariants broken:\n  {}",
            problems.join("\n  ")
        );
    }
    println!("xtask: tidy: the architecture invariants hold");
    Ok(())
}

/// Repository code that executes on the pool itself: behind a transaction
/// pooler a statement's two round trips could reach two server connections, so
/// every operation takes `Db::conn()` or `Db::begin()` (see `db.rs`).
fn pool_executors(dir: &std::path::Path) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_none_or(|ext| ext != "rs") || path.ends_with("db.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path)?;
        for (number, line) in text.lines().enumerate() {
            if line.contains("(&self.pool)")
                || line.contains("self.pool.")
                || line.contains("(pool)")
            {
                problems.push(format!(
                    "{}:{}: a query executes on the pool itself; take `self.db.conn()` (see repo-postgres/src/db.rs)",
                    path.display(),
                    number + 1
                ));
            }
        }
    }
    Ok(problems)
}

/// Domain types are not `Serialize` (the JSON shapes are the HTTP crates'),
/// save the few payloads the domain itself composes.
fn serialized_domain_types(dir: &std::path::Path) -> Result<Vec<String>> {
    /// The JWT payloads the domain signs (`tokens/access.rs`, `tokens/id.rs`),
    /// the outbox payload (`mail.rs`) and the `Email` it carries (`user/email.rs`).
    const ALLOWED: [&str; 4] = [
        "tokens/access.rs",
        "tokens/id.rs",
        "mail.rs",
        "user/email.rs",
    ];
    let mut problems = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        for entry in std::fs::read_dir(&next)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let relative = path.strip_prefix(dir)?.to_string_lossy().replace('\\', "/");
            if path.extension().is_none_or(|ext| ext != "rs")
                || ALLOWED.contains(&relative.as_str())
            {
                continue;
            }
            let text = std::fs::read_to_string(&path)?;
            for (number, line) in text.lines().enumerate() {
                if line.trim_start().starts_with("#[derive(") && line.contains("Serialize") {
                    problems.push(format!(
                        "crates/domain/src/{relative}:{}: a domain type derives Serialize; the JSON shape belongs in api-types",
                        number + 1
                    ));
                }
            }
        }
    }
    Ok(problems)
}

/// Normal (non-dev, non-build) dependencies of each workspace package.
fn dependencies(metadata: &Value) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for package in metadata["packages"].as_array().into_iter().flatten() {
        let name = package["name"].as_str().unwrap_or_default().to_owned();
        let deps = package["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|dep| dep["kind"].is_null())
            .filter_map(|dep| dep["name"].as_str().map(str::to_owned))
            .collect();
        out.insert(name, deps);
    }
    out
}

fn check(deps: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    let mut problems = Vec::new();
    for (package, package_deps) in deps {
        let Some(kind) = kind_of(package) else {
            problems.push(format!(
                "{package} is not classified: add it to CRATES in xtask/src/tidy/mod.rs \
                 (core, adapter, edge support, contract, app or dev) and to docs/ARCHITECTURE.md"
            ));
            continue;
        };
        for dep in package_deps {
            let dep_kind = deps.contains_key(dep).then(|| kind_of(dep)).flatten();
            let problem = match (kind, dep_kind) {
                (Kind::Core, _) if IO_CRATES.contains(&dep.as_str()) || deps.contains_key(dep) => {
                    Some("it must depend on no I/O crate and no workspace crate")
                }
                (Kind::Adapter, Some(Kind::Adapter | Kind::App)) => {
                    Some("an adapter depends on `domain`, the contract and edge support alone")
                }
                (Kind::Contract, Some(_)) => Some("the contract depends on no workspace crate"),
                (Kind::EdgeSupport, Some(kind)) if kind != Kind::Core => {
                    Some("edge support depends on `domain` alone")
                }
                (Kind::Core | Kind::Adapter | Kind::EdgeSupport | Kind::App, Some(Kind::Dev)) => {
                    Some("fixtures and tooling are dev-only")
                }
                (Kind::Dev, Some(_)) if package == "testkit" => {
                    Some("testkit must stay below every crate")
                }
                _ => None,
            };
            if let Some(problem) = problem {
                problems.push(format!("{package} depends on {dep}: {problem}"));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace(extra: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        let mut deps: BTreeMap<String, Vec<String>> = [
            ("domain", &["thiserror", "jsonwebtoken"][..]),
            ("repo-postgres", &["domain", "sqlx"][..]),
            ("cache-redis", &["domain", "fred", "moka"][..]),
            ("federation", &["domain", "reqwest"][..]),
            ("api-http", &["domain", "http-kit", "api-types", "axum"][..]),
            ("api-types", &["serde", "utoipa"][..]),
            ("http-kit", &["domain", "axum"][..]),
            (
                "ui",
                &["domain", "http-kit", "api-types", "axum", "minijinja"][..],
            ),
            ("mail", &["domain", "lettre"][..]),
            ("passkeys", &["domain", "webauthn-rs"][..]),
            ("xtask", &["domain", "app", "testkit"][..]),
            (
                "app",
                &[
                    "domain",
                    "repo-postgres",
                    "cache-redis",
                    "federation",
                    "api-http",
                    "ui",
                    "http-kit",
                ][..],
            ),
            ("testkit", &["sqlx"][..]),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.iter().map(|d| (*d).to_owned()).collect()))
        .collect();
        for (name, more) in extra {
            deps.entry((*name).to_owned())
                .or_default()
                .extend(more.iter().map(|d| (*d).to_owned()));
        }
        deps
    }

    #[test]
    fn the_real_shape_passes_and_each_violation_is_named() {
        assert!(check(&workspace(&[])).is_empty());
        for (package, dep) in [
            ("domain", "sqlx"),
            ("domain", "api-http"),
            ("cache-redis", "repo-postgres"),
            ("api-http", "federation"),
            ("app", "testkit"),
            ("testkit", "domain"),
            ("http-kit", "api-http"),
            ("http-kit", "repo-postgres"),
            ("mail", "passkeys"),
            ("api-types", "domain"),
            ("http-kit", "api-types"),
            ("ui", "api-http"),
            ("api-http", "ui"),
        ] {
            let problems = check(&workspace(&[(package, &[dep])]));
            assert_eq!(problems.len(), 1, "{package} → {dep}: {problems:?}");
            assert!(problems[0].starts_with(package));
        }
        let unknown = check(&workspace(&[("ui-kit", &["serde"])]));
        assert_eq!(unknown.len(), 1, "{unknown:?}");
        assert!(unknown[0].starts_with("ui-kit is not classified"));
    }
}
