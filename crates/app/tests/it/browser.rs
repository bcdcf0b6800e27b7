//! The hosted pages in a real browser: Debian's Chromium, driven through
//! chromedriver by Selenium in the project's Python environment
//! (`tests/browser/walk.py`), against the real service, PostgreSQL, Redis
//! and an SMTP server, with axe-core checking every page. `cargo xtask test`
//! installs Chromium, chromedriver, Selenium, pyotp and axe-core; the walk
//! ends with single sign-on into an application registered here, whose
//! redirect URI is a page this test serves on a loopback port;
//! `cargo xtask screenshots` runs the same walk and keeps its pictures.

use std::path::PathBuf;

use testkit::SmtpSink;

use crate::helpers::spawn_app_with;

/// Where a tool is: the environment's `name`, else `default`.
fn tool(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[tokio::test]
async fn a_person_does_everything_with_a_real_browser() {
    let sink = SmtpSink::start();
    // The browser's origin is `localhost` (a WebAuthn relying party needs
    // a domain), on a port chosen before the service binds it.
    let port = testkit::free_port();
    let base = format!("http://localhost:{port}");
    let app = spawn_app_with(&[
        ("BIND_ADDR", &format!("127.0.0.1:{port}")),
        ("PUBLIC_BASE_URL", &base),
        ("WEBAUTHN_RP_ID", "localhost"),
        ("WEBAUTHN_RP_ORIGIN", &base),
        ("SMTP_URL", &sink.url()),
    ])
    .await;
    assert!(app.address.ends_with(&port.to_string()));
    // The application: its page on a port of its own, registered by an admin.
    let rp_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rp_redirect = format!(
        "http://127.0.0.1:{}/callback",
        rp_listener.local_addr().unwrap().port()
    );
    let rp_page = axum::Router::new().route(
        "/callback",
        axum::routing::get(|| async {
            axum::response::Html(
                "<!doctype html><html lang=\"en\"><title>Wiki</title>\
                 <main><h1>Signed in to the application</h1></main></html>",
            )
        }),
    );
    tokio::spawn(async move { axum::serve(rp_listener, rp_page).await });
    let rp = crate::oidc::register_rp(
        &app,
        serde_json::json!({"name": "Wiki", "redirect_uris": [rp_redirect],
                           "scopes": ["openid", "email"]}),
    )
    .await;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("tests/browser/walk.py");
    let axe = tool(
        "TEST_AXE",
        &root
            .join("../../target/node/node_modules/axe-core/axe.min.js")
            .display()
            .to_string(),
    );
    let log = std::env::temp_dir().join(format!("czt-browser-{port}"));
    let mut walk = std::process::Command::new(testkit::python());
    walk.arg(&script)
        .arg(&base)
        .arg(sink.maildir())
        .arg(&axe)
        .env(
            "CHROMEDRIVER",
            tool("CHROMEDRIVER", "/usr/bin/chromedriver"),
        )
        .env("CHROMIUM", tool("CHROMIUM", "/usr/bin/chromium"))
        .env("RP_CLIENT_ID", &rp.id)
        .env("RP_REDIRECT_URI", &rp_redirect)
        .stdout(std::fs::File::create(log.with_extension("out")).unwrap())
        .stderr(std::fs::File::create(log.with_extension("err")).unwrap());
    // `cargo xtask screenshots`: the pictures of every page, light and dark.
    if let Ok(dir) = std::env::var("UI_SCREENSHOTS") {
        walk.arg(dir);
    }
    let mut child = walk
        .spawn()
        .expect("run the browser walk (Python with selenium: `cargo xtask test` installs it)");
    // The service runs on this test's runtime: wait without blocking it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(240);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the browser walk did not finish within 4 minutes");
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let read =
        |extension| std::fs::read_to_string(log.with_extension(extension)).unwrap_or_default();
    let (stdout, stderr) = (read("out"), read("err"));
    assert!(
        status.success(),
        "the browser walk failed:\n{stdout}\n{stderr}"
    );
    println!("{stdout}");
    assert!(stdout.contains("axe found no violation"), "{stdout}");
}
