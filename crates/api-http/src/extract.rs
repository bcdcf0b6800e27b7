//! Extractors: JSON bodies that fail in the API's own problem format, the
//! authenticated principal, and the client's address and user agent.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use axum::http::request::Parts;
use domain::ClientInfo;
use domain::{auth::Principal, error::Denial};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;

/// A JSON body. Wrong content type → 415, unreadable JSON → 400
/// `malformed_json`, a missing or mistyped field → 422 `validation_failed`
/// naming the field.
pub struct AppJson<T>(pub T);

impl<S, T> FromRequest<S> for AppJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|mime| {
                let mime = mime.trim();
                mime.eq_ignore_ascii_case("application/json")
                    || mime.to_ascii_lowercase().ends_with("+json")
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::MalformedJson("the request body could not be read".to_owned())
            }
        })?;
        parse_json(&bytes).map(AppJson)
    }
}

/// Every body is a JSON object. serde would also read a struct from an array of
/// its fields in order (`["a@b.co", "pw"]`); that form is refused.
fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    use serde_json::error::Category;
    let malformed = || ApiError::MalformedJson("the request body is not valid JSON".to_owned());
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            Ok(_) => Err(domain::FieldError::new("body", "must be a JSON object").into()),
            Err(_) => Err(malformed()),
        };
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value: T = match serde_path_to_error::deserialize(&mut deserializer) {
        Ok(value) => value,
        Err(error) => {
            let path = error.path().to_string();
            let inner = error.into_inner();
            if !matches!(inner.classify(), Category::Data) {
                return Err(malformed());
            }
            return Err(data_error(&path, &inner).into());
        }
    };
    // Trailing bytes after the value make the body malformed too.
    deserializer.end().map_err(|_| malformed())?;
    Ok(value)
}

/// Names the field of a well-formed body that does not fit the expected shape.
fn data_error(path: &str, error: &serde_json::Error) -> domain::FieldError {
    let message = error.to_string();
    let message = message.split(" at line ").next().unwrap_or_default();
    if let Some(rest) = message.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or("body");
        let field = if path == "." {
            field.to_owned()
        } else {
            format!("{path}.{field}")
        };
        return domain::FieldError::new(field, "is required");
    }
    let field = if path == "." {
        "body".to_owned()
    } else {
        path.to_owned()
    };
    domain::FieldError::new(field, message.to_owned())
}

/// Query parameters. Unparsable ones → 422 `validation_failed` naming the query.
pub struct AppQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for AppQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(query)
            .map(AppQuery)
            .map_err(|e| ApiError::from(domain::FieldError::new("query", e.to_string())))
    }
}

/// The principal of a valid access token whose session is active.
pub struct AuthUser(pub Principal);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or(Denial::MissingToken)?;
        let token = header
            .to_str()
            .ok()
            .and_then(|value| value.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|token| !token.is_empty())
            .ok_or(Denial::MalformedHeader)?;
        let principal = state.auth.authenticate(token).await?;
        // On the request span, so every line of the request names the user,
        // and for the access line.
        tracing::Span::current().record("user_id", tracing::field::display(principal.user_id));
        if let Some(slot) = parts.extensions.get::<crate::access::UserSlot>() {
            slot.set(principal.user_id);
        }
        Ok(Self(principal))
    }
}

/// The client's address and user agent. The address is the TCP peer's, or —
/// when the peer is a trusted proxy (`TRUSTED_PROXIES`) — the nearest address
/// in `X-Forwarded-For` that is not itself a trusted proxy.
pub struct Client(pub ClientInfo);

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        let ip = peer.map(|peer| client_ip(peer, &parts.headers, &state.trusted_proxies));
        let user_agent = parts.headers.get(USER_AGENT).and_then(|v| v.to_str().ok());
        Ok(Self(ClientInfo::new(user_agent, ip)))
    }
}

/// Walks `X-Forwarded-For` from the right while the hops are trusted proxies.
fn client_ip(
    peer: std::net::IpAddr,
    headers: &axum::http::HeaderMap,
    trusted: &[ipnet::IpNet],
) -> std::net::IpAddr {
    let is_trusted = |ip: &std::net::IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.parse::<std::net::IpAddr>() else {
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "6.6.6.6, 1.2.3.4, 10.0.0.7".parse().unwrap(),
        );
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        // From a trusted proxy: the nearest untrusted hop.
        assert_eq!(client_ip(ip("10.0.0.1"), &headers, &trusted), ip("1.2.3.4"));
        // From anyone else: the peer, whatever the header says.
        assert_eq!(client_ip(ip("8.8.8.8"), &headers, &trusted), ip("8.8.8.8"));
        assert_eq!(client_ip(ip("10.0.0.1"), &headers, &[]), ip("10.0.0.1"));
        // Garbage stops the walk at the last hop that parsed.
        headers.insert("x-forwarded-for", "nonsense, 10.0.0.9".parse().unwrap());
        assert_eq!(
            client_ip(ip("10.0.0.1"), &headers, &trusted),
            ip("10.0.0.9")
        );
        headers.remove("x-forwarded-for");
        assert_eq!(
            client_ip(ip("10.0.0.1"), &headers, &trusted),
            ip("10.0.0.1")
        );
    }

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Login {
        email: String,
        password: String,
    }

    #[test]
    fn json_errors_are_classified() {
        assert!(matches!(
            parse_json::<Login>(b"{"),
            Err(ApiError::MalformedJson(_))
        ));
        assert!(matches!(
            parse_json::<Login>(br#"{"email":"a","password":"b"} x"#),
            Err(ApiError::MalformedJson(_))
        ));
        let Err(ApiError::Auth(domain::error::AuthError::Validation(errors))) =
            parse_json::<Login>(br#"{"email":"a@b.co"}"#)
        else {
            panic!("expected a validation error");
        };
        assert_eq!(errors.errors()[0].field, "password");
        let Err(ApiError::Auth(domain::error::AuthError::Validation(errors))) =
            parse_json::<Login>(br#"{"email":1,"password":"x"}"#)
        else {
            panic!("expected a validation error");
        };
        assert_eq!(errors.errors()[0].field, "email");
        assert!(parse_json::<Login>(br#"{"email":"a","password":"b"}"#).is_ok());
        // Arrays, scalars and null are JSON, but not the object asked for.
        for body in [&br#"["a","b"]"#[..], b"[null]", b" 1", b"null", b"\"x\""] {
            let Err(ApiError::Auth(domain::error::AuthError::Validation(errors))) =
                parse_json::<Login>(body)
            else {
                panic!("{} was accepted", String::from_utf8_lossy(body));
            };
            assert_eq!(errors.errors()[0].field, "body");
        }
        assert!(matches!(
            parse_json::<Login>(b"[1,"),
            Err(ApiError::MalformedJson(_))
        ));
    }
}
