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

/// The adapters: each depends on `domain` and on no sibling.
const ADAPTERS: [&str; 6] = [
    "repo-postgres",
    "cache-redis",
    "federation",
    "api-http",
    "mail",
    "passkeys",
];

/// Crates of the workspace that ship in the binary.
const PRODUCTION: [&str; 8] = [
    "domain",
    "mail",
    "passkeys",
    "repo-postgres",
    "cache-redis",
    "federation",
    "api-http",
    "app",
];

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
    /// The JWT payload (`tokens/access.rs`), the outbox payload (`mail.rs`) and the
    /// `Email` it carries (`user/email.rs`).
    const ALLOWED: [&str; 3] = ["tokens/access.rs", "mail.rs", "user/email.rs"];
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
    let of = |name: &str| deps.get(name).cloned().unwrap_or_default();
    for dep in of("domain") {
        if IO_CRATES.contains(&dep.as_str()) || deps.contains_key(&dep) {
            problems.push(format!(
                "domain depends on {dep}: it must depend on no I/O crate and no workspace crate"
            ));
        }
    }
    for adapter in ADAPTERS {
        for dep in of(adapter) {
            if deps.contains_key(&dep) && dep != "domain" {
                problems.push(format!(
                    "{adapter} depends on {dep}: an adapter depends on `domain` alone"
                ));
            }
        }
    }
    for package in PRODUCTION {
        if of(package).iter().any(|dep| dep == "testkit") {
            problems.push(format!(
                "{package} depends on testkit: fixtures are dev-only"
            ));
        }
    }
    for dep in of("testkit") {
        if deps.contains_key(&dep) {
            problems.push(format!(
                "testkit depends on {dep}: it must stay below every crate"
            ));
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
            ("api-http", &["domain", "axum"][..]),
            (
                "app",
                &[
                    "domain",
                    "repo-postgres",
                    "cache-redis",
                    "federation",
                    "api-http",
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
        ] {
            let problems = check(&workspace(&[(package, &[dep])]));
            assert_eq!(problems.len(), 1, "{package} → {dep}: {problems:?}");
            assert!(problems[0].starts_with(package));
        }
    }
}
