//! `cargo xtask check-deploy`: the deployment files are valid for their tools.
//!
//! - Prometheus config and alert rules: `promtool check config` (which checks the rules);
//! - every Grafana panel query parses as PromQL (as recording rules, `promtool check rules`);
//! - Kubernetes manifests against the API schema (`kubernetes-validate --strict`);
//! - `docker-compose.yml` against the Compose schema (`docker compose config`);
//! - Grafana provisioning YAML parses.
//!
//! Missing tools are installed where this machine allows it (Debian's
//! `prometheus` and `docker-compose` packages when root, `kubernetes-validate`
//! from PyPI). Under CI (`CI` set) a tool that is still missing fails the check;
//! elsewhere it is reported and that check skipped. That the queries name only
//! metrics the service exports is checked by `crates/app/tests/metrics.rs`.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::{found, root, run};

/// The Kubernetes version the manifests target.
const KUBERNETES_VERSION: &str = "1.30.0";

pub(crate) fn check() -> Result<()> {
    let root = root();
    let strict = std::env::var_os("CI").is_some();
    let mut skipped = Vec::new();
    for check in [prometheus, kubernetes, compose, provisioning] {
        if let Some(missing) = check(&root)? {
            skipped.push(missing);
        }
    }
    if skipped.is_empty() {
        println!("xtask: deployment files are valid");
        return Ok(());
    }
    let list = skipped.join(", ");
    if strict {
        bail!("CI needs these tools to check the deployment files: {list}");
    }
    println!("xtask: deployment checks skipped for want of: {list}");
    Ok(())
}

/// What a check lacked to run (`None`: it ran and passed).
type Skipped = Option<&'static str>;

/// `promtool check config`, and every Grafana panel query as a recording rule.
fn prometheus(root: &Path) -> Result<Skipped> {
    if !ensure("promtool", &[Install::Apt("prometheus")]) {
        return Ok(Some("promtool (Debian: apt-get install prometheus)"));
    }
    let mut config = Command::new("promtool");
    config
        .args(["check", "config"])
        .arg(root.join("deploy/prometheus/prometheus.yml"));
    run(config)?;
    let rules = dashboard_rules(root)?;
    let mut check = Command::new("promtool");
    check.args(["check", "rules"]).arg(&rules);
    run(check).context("a Grafana panel query is not valid PromQL")?;
    Ok(None)
}

/// `kubernetes-validate --strict` on every manifest.
fn kubernetes(root: &Path) -> Result<Skipped> {
    if !ensure(
        "kubernetes-validate",
        &[Install::Pip("kubernetes-validate")],
    ) {
        return Ok(Some(
            "kubernetes-validate (pip install kubernetes-validate)",
        ));
    }
    let mut validate = Command::new("kubernetes-validate");
    validate.args(["--strict", "--quiet", "-k", KUBERNETES_VERSION]);
    for entry in std::fs::read_dir(root.join("deploy/k8s"))? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        // kustomization.yaml is kustomize's, not an API object.
        if name.ends_with(".yaml") && name != "kustomization.yaml" {
            validate.arg(&path);
        }
    }
    run(validate)?;
    Ok(None)
}

/// `docker compose config` (or Debian's `docker-compose`).
fn compose(root: &Path) -> Result<Skipped> {
    if !(compose_available() || ensure("docker-compose", &[Install::Apt("docker-compose")])) {
        return Ok(Some(
            "docker compose (Docker's compose plugin, or Debian's docker-compose)",
        ));
    }
    let mut compose = if compose_available() {
        let mut c = Command::new("docker");
        c.arg("compose");
        c
    } else {
        Command::new("docker-compose")
    };
    compose
        .current_dir(root)
        .args(["-f", "docker-compose.yml", "config", "-q"]);
    run(compose)?;
    Ok(None)
}

/// The Grafana provisioning files parse as YAML.
fn provisioning(root: &Path) -> Result<Skipped> {
    if !python_has_yaml() {
        return Ok(Some("PyYAML (pip install pyyaml)"));
    }
    let mut parse = Command::new("python3");
    parse.args([
        "-c",
        "import sys, yaml\nfor f in sys.argv[1:]: yaml.safe_load(open(f))",
    ]);
    for dir in [
        "deploy/grafana/provisioning/datasources",
        "deploy/grafana/provisioning/dashboards",
    ] {
        for entry in std::fs::read_dir(root.join(dir))? {
            parse.arg(entry?.path());
        }
    }
    run(parse).context("Grafana provisioning YAML does not parse")?;
    Ok(None)
}

/// Every panel query of the dashboards as a recording rule, for `promtool`.
fn dashboard_rules(root: &Path) -> Result<std::path::PathBuf> {
    let mut rules = String::from("groups:\n  - name: grafana-panels\n    rules:\n");
    let mut count = 0;
    for entry in std::fs::read_dir(root.join("deploy/grafana/dashboards"))? {
        let path = entry?.path();
        let text = std::fs::read_to_string(&path)?;
        let dashboard: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", path.display()))?;
        for panel in dashboard["panels"].as_array().into_iter().flatten() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                let Some(expr) = target["expr"].as_str() else {
                    continue;
                };
                // Grafana's interval macros, as Prometheus sees them after substitution.
                let expr = expr
                    .replace("$__rate_interval", "1m")
                    .replace("$__interval", "15s")
                    .replace("$__range", "1h");
                count += 1;
                // A JSON string is a valid YAML double-quoted scalar.
                rules.push_str(&format!(
                    "      - record: grafana:panel_{count}\n        expr: {}\n",
                    serde_json::to_string(&expr)?
                ));
            }
        }
    }
    if count == 0 {
        bail!("no panel queries found under deploy/grafana/dashboards");
    }
    let path = root.join("target/xtask/grafana-panel-rules.yml");
    std::fs::create_dir_all(path.parent().expect("has a parent"))?;
    std::fs::write(&path, rules)?;
    Ok(path)
}

pub(crate) enum Install {
    Apt(&'static str),
    Pip(&'static str),
}

/// Whether `program` is on the PATH, installing it first if this machine lets us.
pub(crate) fn ensure(program: &str, ways: &[Install]) -> bool {
    if found(program) {
        return true;
    }
    for way in ways {
        let installed = match way {
            Install::Apt(package) if found("apt-get") && testkit::is_root() => {
                println!("xtask: installing {package} (apt-get) for {program}");
                quiet("apt-get", &["update", "-qq"])
                    && quiet(
                        "apt-get",
                        &["install", "-y", "-qq", "--no-install-recommends", package],
                    )
            }
            Install::Pip(package) if found("python3") => {
                println!("xtask: installing {package} (pip) for {program}");
                quiet("python3", &["-m", "pip", "install", "-q", package])
            }
            _ => false,
        };
        if installed && found(program) {
            return true;
        }
    }
    false
}

fn quiet(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn compose_available() -> bool {
    found("docker") && quiet("docker", &["compose", "version"])
}

fn python_has_yaml() -> bool {
    found("python3") && quiet("python3", &["-c", "import yaml"])
}
