//! Schemathesis (property-based API fuzzing) against the live service's own
//! OpenAPI document: every operation, every check — no server error, no answer
//! that the document does not describe (status, content type, headers, body
//! schema), schema-invalid requests refused, schema-valid ones accepted unless
//! `tests/schemathesis/schemathesis.toml` says why not. Bearer tokens come from
//! users the hooks register through the API (`tests/schemathesis/hooks.py`).
//! `FUZZ_MAX_EXAMPLES` (default 60 per operation) runs it longer.

use std::path::Path;

use api_types::paths;
use std::process::Command;

use crate::helpers::spawn_app_with;

#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_nothing() {
    let app = spawn_app_with(&[
        // The limits are tested elsewhere; here they would only hide the
        // routes behind 429s.
        ("RATE_LIMIT_PER_IP", "0"),
        ("RATE_LIMIT_LOGIN_PER_EMAIL", "0"),
        ("RATE_LIMIT_FORGOT_PER_EMAIL", "0"),
        ("RATE_LIMIT_VERIFY_SEND_PER_USER", "0"),
        ("RATE_LIMIT_EMAIL_CHANGE_PER_USER", "0"),
        ("LOGIN_LOCKOUT_THRESHOLD", "1000000"),
        // A provider the OAuth routes can be fuzzed with; nothing listens there.
        ("OAUTH_GITHUB_CLIENT_ID", "fuzz-client"),
        ("OAUTH_GITHUB_CLIENT_SECRET", "fuzz-secret"),
        ("OAUTH_GITHUB_URL", "http://127.0.0.1:9"),
        ("OAUTH_GITHUB_API_URL", "http://127.0.0.1:9"),
        // Passkeys on, so their routes are reached (no browser answers them).
        ("WEBAUTHN_RP_ID", "localhost"),
        ("WEBAUTHN_RP_ORIGIN", "http://localhost:3000"),
    ])
    .await;
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis");
    // Hypothesis keeps its example database in the working directory.
    let workdir = std::env::temp_dir().join(testkit::unique_name("czt-fuzz"));
    std::fs::create_dir_all(&workdir).unwrap();
    let examples = std::env::var("FUZZ_MAX_EXAMPLES").unwrap_or_else(|_| "60".to_owned());
    let mut command = Command::new(testkit::python());
    command
        .args(["-m", "schemathesis.cli", "--no-color", "--config-file"])
        .arg(here.join("schemathesis.toml"))
        .arg("run")
        .arg(app.url("/api-docs/openapi.json"))
        .args(["--checks", "all", "--max-examples", &examples])
        .args(["--request-timeout", "30"])
        .env("SCHEMATHESIS_HOOKS", here.join("hooks.py"))
        .env("FUZZ_BASE_URL", &app.address)
        .current_dir(&workdir);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap_or_else(|e| {
            panic!("cannot run schemathesis ({e}); `cargo xtask test` installs it into target/py")
        });
    let _ = std::fs::remove_dir_all(&workdir);
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // It ran every operation, not none.
    let doc: utoipa::openapi::OpenApi = app.get_json(paths::OPENAPI).await;
    let operations = doc
        .paths
        .paths
        .values()
        .map(|item| {
            [&item.get, &item.post, &item.put, &item.patch, &item.delete]
                .iter()
                .filter(|operation| operation.is_some())
                .count()
        })
        .sum::<usize>();
    assert!(
        report.contains(&format!("Tested: {operations}")),
        "not every one of {operations} operations was tested:\n{report}"
    );
    println!("{report}");
}
