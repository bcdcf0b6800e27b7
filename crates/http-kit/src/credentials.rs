//! Client authentication at the OAuth 2.0 endpoints (RFC 6749 §2.3.1): HTTP
//! Basic (`client_secret_basic`: id and secret form-encoded, then base64), or
//! both in the form (`client_secret_post`), or — for a public client — its id
//! alone in the form (`none`); never two methods at once.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Who the caller says it is. `secret: None` is a public client's claim
/// (`token_endpoint_auth_method: none`); endpoints for confidential clients
/// refuse it.
#[derive(PartialEq, Eq)]
pub struct ClientCredentials {
    pub id: String,
    pub secret: Option<String>,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("id", &self.id)
            .field("secret", &self.secret.as_ref().map(|_| "…"))
            .finish()
    }
}

/// Why no credentials could be read: the first two are `invalid_client`
/// (401), the last two `invalid_request` (400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialsError {
    /// No client id at all.
    Missing,
    /// An `Authorization` header that is not well-formed HTTP Basic.
    MalformedBasic,
    /// HTTP Basic and a `client_secret` in the form.
    TwoMethods,
    /// The form's `client_id` is not the HTTP Basic user.
    DifferentIds,
}

impl CredentialsError {
    /// Whether this is `invalid_client` (else `invalid_request`).
    pub fn is_invalid_client(self) -> bool {
        matches!(self, Self::Missing | Self::MalformedBasic)
    }

    /// What to tell the client (`error_description`).
    pub fn describe(self) -> &'static str {
        match self {
            Self::Missing => "Client authentication is required.",
            Self::MalformedBasic => "The Authorization header is not valid HTTP Basic.",
            Self::TwoMethods => {
                "Use one client authentication method: HTTP Basic or the form, not both."
            }
            Self::DifferentIds => "`client_id` differs from the HTTP Basic user.",
        }
    }
}

/// The credentials of a request whose form carried `form_id` and
/// `form_secret`.
pub fn client_credentials(
    headers: &HeaderMap,
    form_id: Option<&str>,
    form_secret: Option<&str>,
) -> Result<ClientCredentials, CredentialsError> {
    match headers.get(AUTHORIZATION) {
        Some(header) => {
            if form_secret.is_some() {
                return Err(CredentialsError::TwoMethods);
            }
            let (id, secret) = basic(header.as_bytes()).ok_or(CredentialsError::MalformedBasic)?;
            if form_id.is_some_and(|form_id| form_id != id) {
                return Err(CredentialsError::DifferentIds);
            }
            Ok(ClientCredentials {
                id,
                secret: Some(secret),
            })
        }
        None => match form_id {
            Some(id) => Ok(ClientCredentials {
                id: id.to_owned(),
                secret: form_secret.map(str::to_owned),
            }),
            None => Err(CredentialsError::Missing),
        },
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))`.
fn basic(header: &[u8]) -> Option<(String, String)> {
    let header = std::str::from_utf8(header).ok()?;
    let (scheme, encoded) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8()
            .ok()
            .map(|s| s.into_owned())
    };
    Some((unescape(id)?, unescape(secret)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let header = format!("Basic {}", STANDARD.encode("my%20id:s%3Acret+x"));
        assert_eq!(
            basic(header.as_bytes()),
            Some(("my id".to_owned(), "s:cret x".to_owned()))
        );
        assert_eq!(basic(b"Bearer abc"), None);
        assert_eq!(basic(b"Basic !!!"), None);
        let no_colon = format!("Basic {}", STANDARD.encode("nocolon"));
        assert_eq!(basic(no_colon.as_bytes()), None);
    }

    #[test]
    fn one_method_at_a_time() {
        let mut basic_headers = HeaderMap::new();
        let header = format!("Basic {}", STANDARD.encode("id:secret"));
        basic_headers.insert(AUTHORIZATION, header.parse().unwrap());
        let none = HeaderMap::new();
        let ok = |id: &str, secret: Option<&str>| {
            Ok(ClientCredentials {
                id: id.to_owned(),
                secret: secret.map(str::to_owned),
            })
        };
        assert_eq!(
            client_credentials(&basic_headers, None, None),
            ok("id", Some("secret"))
        );
        assert_eq!(
            client_credentials(&basic_headers, Some("id"), None),
            ok("id", Some("secret"))
        );
        assert_eq!(
            client_credentials(&basic_headers, Some("other"), None),
            Err(CredentialsError::DifferentIds)
        );
        assert_eq!(
            client_credentials(&basic_headers, None, Some("s")),
            Err(CredentialsError::TwoMethods)
        );
        assert_eq!(
            client_credentials(&none, Some("id"), Some("s")),
            ok("id", Some("s"))
        );
        assert_eq!(
            client_credentials(&none, Some("pub"), None),
            ok("pub", None)
        );
        assert_eq!(
            client_credentials(&none, None, Some("s")),
            Err(CredentialsError::Missing)
        );
        let mut bearer = HeaderMap::new();
        bearer.insert(AUTHORIZATION, "Bearer x".parse().unwrap());
        assert_eq!(
            client_credentials(&bearer, None, None),
            Err(CredentialsError::MalformedBasic)
        );
        // The secret never reaches a log line through Debug.
        let debug = format!("{:?}", client_credentials(&basic_headers, None, None));
        assert!(!debug.contains("secret\""), "{debug}");
        assert!(!debug.contains("\"secret"), "{debug}");
    }
}
