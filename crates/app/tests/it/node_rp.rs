//! A relying party from another ecosystem: Node's `openid-client` (v6, on
//! `oauth4webapi`), installed by `cargo xtask test` under `target/node`, runs
//! `tests/node/rp.mjs` against the provider — discovery, the code flow with
//! PKCE, `state`, RFC 9207 `iss` and the ID token checked by its own code,
//! userinfo, refresh, `client_credentials`, and RP-initiated logout — while
//! this test plays the browser.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use api_types::paths;
use reqwest::StatusCode;
use serde_json::Value;

use crate::independent_rp::provider_with_a_relying_party;
use crate::oidc::CB;
use crate::pages::Browser;

const BYE: &str = "https://rp.example.com/bye";

/// Where `cargo xtask test` installed openid-client.
fn node_modules() -> PathBuf {
    let modules = std::env::var_os("TEST_NODE_MODULES").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/node/node_modules"),
        PathBuf::from,
    );
    assert!(
        modules.join("openid-client").is_dir(),
        "openid-client is not installed in {} (`cargo xtask test` installs it with npm)",
        modules.display()
    );
    modules
}

/// The path and query of an absolute URL on the service.
fn path_of(url: &str) -> String {
    let url = url::Url::parse(url).unwrap();
    let mut path = url.path().to_owned();
    if let Some(query) = url.query() {
        path.push('?');
        path.push_str(query);
    }
    path
}

#[tokio::test]
async fn nodes_openid_client_signs_a_user_in_refreshes_and_logs_out() {
    let (app, base, rp) = provider_with_a_relying_party("Node app", BYE).await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node/rp.mjs");
    let mut node = Command::new("node")
        .arg(script)
        .args([&base, &rp.id, rp.secret.as_deref().unwrap(), CB, BYE])
        .env("TEST_NODE_MODULES", node_modules())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node (Debian: apt-get install nodejs)");
    let mut stdin = node.stdin.take().unwrap();
    // Its answers, one JSON line each, read on a thread of their own.
    let (sent, mut answers) = tokio::sync::mpsc::unbounded_channel();
    let stdout = node.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if sent.send(line).is_err() {
                break;
            }
        }
    });
    let mut read = async || -> Value {
        let line = tokio::time::timeout(std::time::Duration::from_secs(20), answers.recv())
            .await
            .expect("the relying party answers within 20 s")
            .expect("the relying party is still running");
        let value: Value = serde_json::from_str(&line).unwrap();
        assert!(
            value.get("failed").is_none(),
            "openid-client failed: {value}"
        );
        value
    };

    let authorize = read().await["authorize"].as_str().unwrap().to_owned();
    let mut browser = Browser::new(&app);
    let email = format!("node-rp-{}@example.com", uuid::Uuid::new_v4().simple());
    browser.sign_up(&email).await;
    let consent = browser.get(&path_of(&authorize)).await;
    assert_eq!(consent.status, StatusCode::OK, "{}", consent.html);
    let allowed = browser
        .submit(&consent, paths::UI_CONSENT, &[("decision", "allow")])
        .await;
    assert!(allowed.location().starts_with(CB), "{}", allowed.location());
    writeln!(stdin, "{}", allowed.location()).unwrap();

    let got = read().await;
    assert_eq!(got["email"], email.as_str(), "{got}");
    assert_eq!(got["name"], "Ada Lovelace", "{got}");
    assert_eq!(got["rotated"], true, "{got}");
    assert_eq!(got["own_scope"], "profile", "{got}");
    assert!(got["sid"].as_str().is_some_and(|sid| !sid.is_empty()));

    // RP-initiated logout at the URL openid-client built.
    let out = browser.get(&path_of(got["logout"].as_str().unwrap())).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER, "{}", out.html);
    assert_eq!(out.location(), format!("{BYE}?state=node-bye"));
    writeln!(stdin, "check").unwrap();
    let after = read().await;
    assert_eq!(after["after_logout"], "refused", "{after}");
    drop(stdin);
    assert!(node.wait().unwrap().success());
}
