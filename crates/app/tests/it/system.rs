//! Health, readiness, JWKS and the OpenAPI document.

use api_types::{JwksResponse, ReadinessResponse, paths};
use reqwest::StatusCode;
use serde_json::Value;
use utoipa::openapi::OpenApi;

use crate::helpers::spawn_app;

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url(paths::HEALTHZ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = app.client.get(app.url(paths::READYZ)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: ReadinessResponse = response.json().await.unwrap();
    assert_eq!(body.status, "ready");
    assert_eq!(body.postgres, "up");
    assert!(["up", "degraded", "disabled"].contains(&&*body.redis));
}

#[tokio::test]
async fn readiness_is_503_when_postgres_is_gone() {
    let app = spawn_app().await;
    app.pool.close().await;
    let response = app.client.get(app.url(paths::READYZ)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: ReadinessResponse = response.json().await.unwrap();
    assert_eq!(body.postgres, "down");
    // Requests that need the database fail as 503 problems, not 500s or hangs.
    let response = app
        .post(
            paths::LOGIN,
            &serde_json::json!({"email": "a@example.com", "password": "whatever1"}),
        )
        .await;
    crate::helpers::assert_problem(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    )
    .await;
}

#[tokio::test]
async fn jwks_publishes_the_signing_key() {
    let app = spawn_app().await;
    let response = app.client.get(app.url(paths::JWKS)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    for private in ["/keys/0/d", "/keys/1/d", "/keys/1/p", "/keys/1/q"] {
        assert!(body.pointer(private).is_none(), "never the private part");
    }
    let jwks: JwksResponse = serde_json::from_value(body).unwrap();
    let key = &jwks.keys[0];
    assert_eq!(key.kty, "OKP");
    assert_eq!(key.crv.as_deref(), Some("Ed25519"));
    assert_eq!(key.alg, "EdDSA");
    assert_eq!(key.key_use, "sig");
    assert!(!key.kid.is_empty() && key.x.is_some());
    // Beside it, the OpenID provider's RS256 key (ID and logout tokens).
    assert_eq!(jwks.keys.len(), 2);
    let rsa = &jwks.keys[1];
    assert_eq!((rsa.kty.as_ref(), rsa.alg.as_ref()), ("RSA", "RS256"));
    assert_eq!(rsa.key_use, "sig");
    assert!(
        rsa.n.as_ref().is_some_and(|n| n.len() >= 342),
        "≥ 2048 bits"
    );
    assert_eq!(rsa.e.as_deref(), Some("AQAB"));
    assert_ne!(rsa.kid, key.kid);
}

#[tokio::test]
async fn openapi_document_covers_every_route() {
    let app = spawn_app().await;
    let doc: OpenApi = app.get_json(paths::OPENAPI).await;
    assert!(matches!(
        doc.openapi,
        utoipa::openapi::OpenApiVersion::Version31
    ));
    let expected = [
        (paths::REGISTER, "post"),
        (paths::LOGIN, "post"),
        (paths::REFRESH, "post"),
        (paths::LOGOUT, "post"),
        (paths::LOGOUT_ALL, "post"),
        (paths::ME, "get"),
        (paths::SESSIONS, "get"),
        (paths::SESSION, "delete"),
        (paths::PASSWORD_CHANGE, "post"),
        (paths::USER, "patch"),
        (paths::PROFILE, "put"),
        (paths::USER, "delete"),
        (paths::PASSWORD_FORGOT, "post"),
        (paths::PASSWORD_RESET, "post"),
        (paths::EMAIL_VERIFY_SEND, "post"),
        (paths::EMAIL_VERIFY, "post"),
        (paths::EMAIL_CHANGE, "post"),
        (paths::EVENTS, "get"),
        (paths::MFA_REMOVE_BY_LINK, "post"),
        (paths::OAUTH_EXCHANGE, "post"),
        (paths::ADMIN_USER_MFA, "delete"),
        (paths::HEALTHZ, "get"),
        (paths::READYZ, "get"),
        (paths::JWKS, "get"),
        (paths::OIDC_DISCOVERY, "get"),
        (paths::OIDC_TOKEN, "post"),
        (paths::OIDC_PAR, "post"),
        (paths::OIDC_USERINFO, "get"),
        (paths::OIDC_USERINFO, "post"),
        (paths::GRANTS, "get"),
        (paths::GRANT, "delete"),
    ];
    for (path, method) in expected {
        let item = doc.paths.paths.get(path);
        let operation = item.and_then(|item| match method {
            "get" => item.get.as_ref(),
            "post" => item.post.as_ref(),
            "put" => item.put.as_ref(),
            "patch" => item.patch.as_ref(),
            "delete" => item.delete.as_ref(),
            _ => None,
        });
        let operation = operation
            .unwrap_or_else(|| panic!("{method} {path} missing from the OpenAPI document"));
        assert!(!operation.responses.responses.is_empty());
    }
    let components = doc.components.expect("components");
    for schema in [
        "TokenResponse",
        "UserResponse",
        "Problem",
        "RegisterRequest",
        "SessionDto",
        "AcceptedResponse",
        "AuditEventDto",
        "ResetPasswordRequest",
    ] {
        assert!(
            components.schemas.contains_key(schema),
            "schema {schema} missing"
        );
    }
    assert!(components.security_schemes.contains_key("bearer"));
}

#[tokio::test]
async fn shutdown_finishes_requests_in_flight() {
    let (server, app) = crate::helpers::build_app(&[]).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(server.run_until_stopped(async {
        let _ = stopped.await;
    }));
    app.register_as("inflight@example.com").await;

    // A login (an argon2 hash: tens of milliseconds) is in flight when the signal comes.
    let login = {
        let client = app.client.clone();
        let url = app.url(paths::LOGIN);
        tokio::spawn(async move {
            client
                .post(url)
                .json(&serde_json::json!({"email": "inflight@example.com", "password": crate::helpers::PASSWORD}))
                .send()
                .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    stop.send(()).unwrap();

    let response = login
        .await
        .unwrap()
        .expect("the in-flight request is answered");
    assert_eq!(response.status(), StatusCode::OK);
    tokio::time::timeout(std::time::Duration::from_secs(10), server)
        .await
        .expect("the server stops")
        .unwrap()
        .unwrap();
    // New connections are refused once it stopped.
    assert!(
        app.client
            .get(app.url(paths::HEALTHZ))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn metrics_are_served_on_their_own_port_only() {
    let app = spawn_app().await;
    let public = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(
        public.status(),
        StatusCode::NOT_FOUND,
        "never on the public listener"
    );
    let metrics = app
        .client
        .get(format!("{}/metrics", app.metrics_address))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), StatusCode::OK);
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert!(
        metrics
            .text()
            .await
            .unwrap()
            .contains("# TYPE build_info gauge")
    );
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let app = spawn_app().await;
    let tokens = app.register().await;
    let answers = [
        app.me(&tokens.access).await,
        app.client.get(app.url("/nowhere")).send().await.unwrap(),
        app.login("x@example.com", "wrong password").await,
        app.client
            .get(app.url("/api-docs/openapi.json"))
            .send()
            .await
            .unwrap(),
        app.client
            .get(app.url(paths::HEALTHZ))
            .send()
            .await
            .unwrap(),
    ];
    for response in answers {
        let headers = response.headers();
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
        };
        assert_eq!(
            header("x-content-type-options"),
            "nosniff",
            "{}",
            response.url()
        );
        assert_eq!(header("referrer-policy"), "no-referrer");
        assert_eq!(header("x-frame-options"), "DENY");
        assert_eq!(header("cache-control"), "no-store");
        assert!(header("content-security-policy").starts_with("default-src 'none'"));
    }
}

/// A connection that trickles a partial request head, or sits idle after a
/// response, used to stay open forever (a socket and a task each: slowloris).
/// Both are closed after `HTTP_HEADER_READ_TIMEOUT` now.
#[tokio::test]
async fn partial_heads_and_idle_connections_are_closed() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let app = crate::helpers::spawn_app_with(&[("HTTP_HEADER_READ_TIMEOUT", "1")]).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    // Reads until the server closes the connection (or 5 s pass).
    async fn closed_by_server(stream: &mut tokio::net::TcpStream) -> bool {
        let mut buffer = [0_u8; 4096];
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
                Ok(Ok(0) | Err(_)) => return true,
                Ok(Ok(_)) => continue,
                Err(_) => return false,
            }
        }
    }

    let mut partial = tokio::net::TcpStream::connect(&address).await.unwrap();
    partial
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        .await
        .unwrap();
    assert!(
        closed_by_server(&mut partial).await,
        "a partial head was held open"
    );

    let mut idle = tokio::net::TcpStream::connect(&address).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut response = [0_u8; 15];
    idle.read_exact(&mut response).await.unwrap();
    assert_eq!(&response, b"HTTP/1.1 200 OK");
    assert!(
        closed_by_server(&mut idle).await,
        "an idle connection was held open"
    );

    // Prompt clients are unaffected.
    let healthy = app
        .client
        .get(app.url(paths::HEALTHZ))
        .send()
        .await
        .unwrap();
    assert_eq!(healthy.status(), StatusCode::OK);
}
