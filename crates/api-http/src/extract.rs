//! Extractors: JSON bodies that fail in the API's own problem format, and the
//! API's wrappers of the edge extractors (`http_kit`): the authenticated
//! principal, the client's address and user agent.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use domain::auth::Principal;
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

/// The principal of a valid access token whose session is active, issued
/// to this platform's own front end: a token the provider issued to a
/// relying party is refused (401), since an application signed in with this
/// service may read userinfo, never act on the account.
pub struct AuthUser(pub Principal);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = http_kit::bearer::authenticate(parts, &state.auth).await?;
        if principal.client.is_some() {
            return Err(domain::error::AuthError::Denied(
                domain::error::Denial::IssuedToApplication,
            )
            .into());
        }
        Ok(Self(principal))
    }
}

/// The principal of any valid access token whose session is active, a
/// relying party's included: forward-auth, which answers for every service
/// of the platform.
pub struct BearerUser(pub Principal);

impl FromRequestParts<AppState> for BearerUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(Self(
            http_kit::bearer::authenticate(parts, &state.auth).await?,
        ))
    }
}

/// The client's address and user agent (`TRUSTED_PROXIES` decide whose
/// `X-Forwarded-For` is believed).
pub(crate) use http_kit::Client;

#[cfg(test)]
mod tests {
    use super::*;

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
