//! The benchmark's floor: the least an authenticated `GET /api/v1/auth/me` can
//! cost on this machine. axum, the service's own token check
//! (`domain::tokens::AccessTokens::verify`, no cache), a body of the service's size, and
//! nothing else: no middleware, no logging, headers read in place, the body
//! shared rather than copied. It uses the service's allocator, so a ratio to it
//! measures the service's work, not an allocator. Built in release by
//! `cargo xtask bench`.
//!
//! Usage: bench-floor PORT (HS256 SECRET | EdDSA PEM_FILE) BODY_BYTES

use api_types::paths;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::{tokens::AccessTokens, tokens::JwtAlgorithm, tokens::JwtConfig};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [port, algorithm, key, body_len] = args.as_slice() else {
        return Err("usage: bench-floor PORT (HS256 SECRET | EdDSA PEM_FILE) BODY_BYTES".into());
    };
    let (algorithm, key) = match algorithm.as_str() {
        "HS256" => (JwtAlgorithm::HS256, key.clone()),
        "EdDSA" => (JwtAlgorithm::EdDSA, std::fs::read_to_string(key)?),
        other => return Err(format!("unknown algorithm {other}").into()),
    };
    let keys = Arc::new(AccessTokens::from_config(&JwtConfig {
        algorithm,
        signing_key: Some(key.into()),
        previous_keys: vec![],
        issuer: domain::tokens::Issuer::parse("codezest-auth").ok_or("a valid issuer")?,
        audience: "codezest".into(),
        access_ttl: time::Duration::hours(2),
    })?);
    let len: usize = body_len.parse()?;
    let mut body = String::from(r#"{"user":{"name":""#);
    while body.len() + 3 < len {
        body.push('x');
    }
    body.push_str("\"}}");
    let body = Bytes::from(body);
    let router = axum::Router::new().route(
        paths::ME,
        axum::routing::get(move |request: Request| {
            let response = me(&keys, &request, &body);
            async move { response }
        }),
    );
    let port: u16 = port.parse()?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
            axum::serve(listener, router).await
        })?;
    Ok(())
}

fn me(keys: &AccessTokens, request: &Request, body: &Bytes) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match token.map(|t| keys.verify(t)) {
        Some(Ok(_)) => ([(header::CONTENT_TYPE, "application/json")], body.clone()).into_response(),
        _ => StatusCode::UNAUTHORIZED.into_response(),
    }
}
