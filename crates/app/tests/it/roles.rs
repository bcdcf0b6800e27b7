//! Roles: granted from the command line, carried by refreshed tokens and shown
//! by forward-auth on every instance at once.

use api_types::{AuditEventDto, paths};
use std::process::Command;

use reqwest::StatusCode;

use crate::helpers::{TestApp, Tokens, spawn_app, spawn_peer};
use crate::tokens::claims_of;

async fn roles_header(app: &TestApp, access: &str) -> String {
    let response = app.get_auth(paths::VERIFY, access).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.headers()["x-auth-roles"]
        .to_str()
        .unwrap()
        .to_owned()
}

/// `codezest-auth admin grant EMAIL`, as an operator runs it: the real binary
/// with the service's environment.
pub(crate) fn grant(app: &TestApp, email: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_codezest-auth"))
        .args(["admin", "grant", email])
        .envs(&app.env)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the binary runs")
}

#[tokio::test]
async fn a_role_granted_on_the_command_line_reaches_every_instance_and_the_next_refresh() {
    let a = spawn_app().await;
    let b = spawn_peer(&a, &[]).await;
    let email = format!("boss-{}@example.com", uuid::Uuid::new_v4().simple());
    let user = a.register_as(&email).await;
    assert_eq!(claims_of(&user.access).roles, Vec::<String>::new());
    // B has the user cached, without roles.
    assert_eq!(roles_header(&b, &user.access).await, "");

    let output = grant(&a, &email.to_uppercase());
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("has the admin role"));
    // B's cached copy was invalidated: the role shows without waiting for a TTL.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while roles_header(&b, &user.access).await != "admin" {
        assert!(
            std::time::Instant::now() < deadline,
            "B still shows no role"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // The next refresh's token carries it.
    let refreshed = Tokens::from_body(b.refresh(&user.refresh).await.json().await.unwrap());
    assert_eq!(claims_of(&refreshed.access).roles, ["admin"]);
    // Granting again changes nothing.
    assert!(grant(&a, &email).status.success());
    assert_eq!(roles_header(&a, &refreshed.access).await, "admin");

    // The audit trail says who did it.
    let events: Vec<AuditEventDto> = a
        .get_auth(paths::EVENTS, &refreshed.access)
        .await
        .json()
        .await
        .unwrap();
    let granted = events
        .iter()
        .find(|e| e.event == "role_granted")
        .expect("a role_granted event");
    assert!(
        granted
            .user_agent
            .as_deref()
            .unwrap()
            .contains("command line")
    );
}

#[tokio::test]
async fn granting_to_an_unknown_address_fails_and_says_why() {
    let app = spawn_app().await;
    let output = grant(&app, "nobody@example.com");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("register it first"), "{stderr}");
    let output = grant(&app, "not an address");
    assert!(!output.status.success());
}
