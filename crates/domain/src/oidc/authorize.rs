//! An authorization request's parameters, checked against the client that
//! sent them (RFC 6749 §4.1.1, OIDC Core §3.1.2.1, RFC 7636, RFC 9207), and the
//! redirect that answers it. Pure: storage and sign-in are the provider's.
//!
//! Two kinds of refusal, as the specifications require: before the redirect
//! URI is known to be the client's, the user gets a page and the browser goes
//! nowhere ([`Refusal::Page`]); after, the client gets the error at its
//! redirect URI with `state` and `iss` ([`Refusal::Redirect`]).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use url::Url;

use super::registration::ClientSettings;
use super::scope::{Scope, Scopes};

/// The longest `state`, `nonce`, `login_hint`, `ui_locales` or `acr_values`
/// kept (bytes).
pub const MAX_PARAM_LEN: usize = 512;

/// The parameters of `/oauth2/authorize` as sent (query or form). Unknown
/// parameters are never read, so they are ignored.
#[derive(Debug, Clone, Default)]
pub struct AuthorizeParams {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub response_type: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub login_hint: Option<String>,
    pub ui_locales: Option<String>,
    pub id_token_hint: Option<String>,
    pub acr_values: Option<String>,
    pub request_uri: Option<String>,
    pub request: Option<String>,
}

/// Why the page says no, without sending the browser anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageRefusal {
    /// No `client_id`, or not a registered client that signs users in.
    UnknownClient,
    /// No `redirect_uri`, or one the client did not register.
    RedirectUriMismatch,
    /// A `request_uri` that is not a live pushed request of this client.
    InvalidRequestUri,
    /// The stored request is gone (expired, or answered already).
    RequestExpired,
    /// A logout's `id_token_hint` that is not an ID token this provider
    /// issued (to the named client).
    InvalidIdTokenHint,
    /// A `post_logout_redirect_uri` the client did not register (or no
    /// client to check it against).
    PostLogoutUriMismatch,
}

/// An error the client receives at its redirect URI (RFC 6749 §4.1.2.1,
/// OIDC Core §3.1.2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    UnsupportedResponseType,
    InvalidScope,
    AccessDenied,
    LoginRequired,
    ConsentRequired,
    RequestNotSupported,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::RequestNotSupported => "request_not_supported",
        }
    }
}

/// A refusal at the redirect URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectError {
    pub code: ErrorCode,
    pub description: &'static str,
}

impl RedirectError {
    const fn new(code: ErrorCode, description: &'static str) -> Self {
        Self { code, description }
    }
}

impl fmt::Display for RedirectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.description)
    }
}

/// How an authorization request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Page(PageRefusal),
    /// To `redirect_uri`, with the request's `state`.
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: RedirectError,
    },
}

/// What `prompt` asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PromptRequest {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

/// A request whose every parameter was checked against its client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedRequest {
    pub redirect_uri: String,
    /// The supported scopes asked for, within the client's.
    pub scopes: Scopes,
    pub state: Option<String>,
    pub nonce: Option<String>,
    /// The S256 challenge.
    pub code_challenge: Option<String>,
    pub prompt: PromptRequest,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    pub ui_locales: Option<String>,
    /// The raw hint, for the provider to read with its keys.
    pub id_token_hint: Option<String>,
    pub acr_values: Option<String>,
}

/// The redirect URI the request names, once it is known to be the client's:
/// from here on refusals go to the client.
pub fn redirect_uri_of(
    settings: &ClientSettings,
    params: &AuthorizeParams,
) -> Result<String, PageRefusal> {
    let presented = params
        .redirect_uri
        .as_deref()
        .ok_or(PageRefusal::RedirectUriMismatch)?;
    settings
        .redirect_uri(presented)
        .map(|_| presented.to_owned())
        .ok_or(PageRefusal::RedirectUriMismatch)
}

impl AuthorizeParams {
    /// Checks every parameter against the client's settings: whether it is
    /// public (PKCE then required) and which scopes it may ask for.
    pub fn check(self, settings: &ClientSettings, public: bool) -> Result<CheckedRequest, Refusal> {
        let redirect_uri = redirect_uri_of(settings, &self).map_err(Refusal::Page)?;
        let state = self.state.clone().filter(|s| !s.is_empty());
        let refuse = |code, description| Refusal::Redirect {
            redirect_uri: redirect_uri.clone(),
            state: state.clone(),
            error: RedirectError::new(code, description),
        };
        if self.request.is_some() {
            return Err(refuse(
                ErrorCode::RequestNotSupported,
                "request objects are not supported; push the request (PAR) instead",
            ));
        }
        match self.response_type.as_deref() {
            Some("code") => {}
            None => {
                return Err(refuse(
                    ErrorCode::InvalidRequest,
                    "response_type is missing",
                ));
            }
            Some(_) => {
                return Err(refuse(
                    ErrorCode::UnsupportedResponseType,
                    "only response_type=code is supported",
                ));
            }
        }
        let too_long = [
            &state,
            &self.nonce,
            &self.login_hint,
            &self.ui_locales,
            &self.acr_values,
        ]
        .iter()
        .any(|value| value.as_ref().is_some_and(|v| v.len() > MAX_PARAM_LEN));
        if too_long {
            return Err(refuse(
                ErrorCode::InvalidRequest,
                "a parameter is longer than 512 bytes",
            ));
        }
        let (asked, _unknown) = Scopes::parse_lenient(self.scope.as_deref().unwrap_or_default());
        let scopes = asked.intersection(settings.scopes);
        if scopes.is_empty() {
            return Err(refuse(
                ErrorCode::InvalidScope,
                "no scope this client may ask for was requested",
            ));
        }
        let code_challenge = match (
            self.code_challenge.as_deref(),
            self.code_challenge_method.as_deref(),
        ) {
            (None, None) if public => {
                return Err(refuse(
                    ErrorCode::InvalidRequest,
                    "a public client must use PKCE (code_challenge, S256)",
                ));
            }
            (None, None) => None,
            (None, Some(_)) => {
                return Err(refuse(
                    ErrorCode::InvalidRequest,
                    "code_challenge_method without code_challenge",
                ));
            }
            (Some(challenge), Some("S256")) if is_s256_challenge(challenge) => {
                Some(challenge.to_owned())
            }
            (Some(_), Some("S256")) => {
                return Err(refuse(
                    ErrorCode::InvalidRequest,
                    "code_challenge must be 43 base64url characters (S256)",
                ));
            }
            // Absent means `plain` (RFC 7636 §4.3): refused like it.
            (Some(_), _) => {
                return Err(refuse(
                    ErrorCode::InvalidRequest,
                    "only code_challenge_method=S256 is supported",
                ));
            }
        };
        let mut prompt = PromptRequest::default();
        for value in self.prompt.as_deref().unwrap_or_default().split(' ') {
            match value {
                "none" => prompt.none = true,
                "login" => prompt.login = true,
                "consent" => prompt.consent = true,
                // `select_account` and unknown values: nothing to do here.
                _ => {}
            }
        }
        if prompt.none && (prompt.login || prompt.consent) {
            return Err(refuse(
                ErrorCode::InvalidRequest,
                "prompt=none cannot be combined with other values",
            ));
        }
        let max_age = match self.max_age.as_deref() {
            None | Some("") => None,
            Some(raw) => match raw.parse::<i64>() {
                Ok(seconds) if seconds >= 0 => Some(seconds),
                _ => {
                    return Err(refuse(
                        ErrorCode::InvalidRequest,
                        "max_age must be a number of seconds",
                    ));
                }
            },
        };
        Ok(CheckedRequest {
            redirect_uri,
            scopes,
            state,
            nonce: self.nonce.filter(|n| !n.is_empty()),
            code_challenge,
            prompt,
            max_age,
            login_hint: self.login_hint.filter(|h| !h.is_empty()),
            ui_locales: self.ui_locales.filter(|l| !l.is_empty()),
            id_token_hint: self.id_token_hint.filter(|h| !h.is_empty()),
            acr_values: self.acr_values.filter(|a| !a.is_empty()),
        })
    }
}

fn is_s256_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The S256 challenge of a presented `code_verifier` (RFC 7636 §4.6), or
/// `None` for a verifier that is not 43–128 unreserved characters.
pub fn s256_challenge(verifier: &str) -> Option<String> {
    let valid = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    valid.then(|| URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())))
}

/// The answer at the client's redirect URI: its own query kept, then the
/// response's parameters, `iss` always (RFC 9207), `state` when sent.
pub fn redirect_with(
    redirect_uri: &str,
    params: &[(&str, &str)],
    state: Option<&str>,
    issuer: &str,
) -> String {
    let Ok(mut url) = Url::parse(redirect_uri) else {
        // Registered URIs parse; a stored one always did.
        return redirect_uri.to_owned();
    };
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in params {
            query.append_pair(name, value);
        }
        if let Some(state) = state {
            query.append_pair("state", state);
        }
        query.append_pair("iss", issuer);
    }
    url.into()
}

/// A refusal's redirect.
pub fn error_redirect(
    redirect_uri: &str,
    error: &RedirectError,
    state: Option<&str>,
    issuer: &str,
) -> String {
    redirect_with(
        redirect_uri,
        &[
            ("error", error.code.as_str()),
            ("error_description", error.description),
        ],
        state,
        issuer,
    )
}

impl Scopes {
    /// Whether the scopes include `openid` (an OpenID Connect request: an
    /// ID token is issued).
    pub fn is_openid(self) -> bool {
        self.contains(Scope::OpenId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oidc::{RegistrationRequest, UriPolicy};

    const CB: &str = "https://rp.example.com/cb";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn client(scopes: Option<&[&str]>) -> ClientSettings {
        RegistrationRequest {
            redirect_uris: vec![CB.into(), "http://127.0.0.1/cb".into()],
            scopes: scopes.map(|s| s.iter().map(|s| (*s).to_owned()).collect()),
            ..RegistrationRequest::default()
        }
        .parse(UriPolicy::HttpsOnly)
        .unwrap()
        .settings
    }

    fn params() -> AuthorizeParams {
        AuthorizeParams {
            client_id: Some("c".into()),
            redirect_uri: Some(CB.into()),
            response_type: Some("code".into()),
            scope: Some("openid email".into()),
            state: Some("af0ifjsldkj".into()),
            code_challenge: Some(CHALLENGE.into()),
            code_challenge_method: Some("S256".into()),
            ..AuthorizeParams::default()
        }
    }

    fn refused_with(result: Result<CheckedRequest, Refusal>) -> ErrorCode {
        match result {
            Err(Refusal::Redirect { error, state, .. }) => {
                assert_eq!(state.as_deref(), Some("af0ifjsldkj"), "state is echoed");
                error.code
            }
            other => panic!("expected a redirect refusal, got {other:?}"),
        }
    }

    /// RFC 7636 Appendix B, and the verifier's own rules (§4.1).
    #[test]
    fn s256_matches_the_rfc_example_and_checks_the_verifier() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(s256_challenge(verifier).as_deref(), Some(CHALLENGE));
        assert!(s256_challenge(&verifier[..42]).is_none(), "too short");
        assert!(s256_challenge(&"a".repeat(128)).is_some());
        assert!(s256_challenge(&"a".repeat(129)).is_none(), "too long");
        assert!(s256_challenge(&format!("{}+", "a".repeat(43))).is_none());
    }

    #[test]
    fn a_good_request_is_kept_whole_and_unknown_parameters_do_not_matter() {
        let checked = params().check(&client(None), true).unwrap();
        assert_eq!(checked.redirect_uri, CB);
        assert_eq!(checked.scopes.to_string(), "openid email");
        assert_eq!(checked.code_challenge.as_deref(), Some(CHALLENGE));
        assert_eq!(checked.prompt, PromptRequest::default());
        // Unknown scopes are dropped; scopes beyond the client's too.
        let narrow = client(Some(&["openid"]));
        let checked = AuthorizeParams {
            scope: Some("openid email custom:thing".into()),
            ..params()
        }
        .check(&narrow, false)
        .unwrap();
        assert_eq!(checked.scopes.to_string(), "openid");
        // A loopback redirect URI on another port (RFC 8252).
        let checked = AuthorizeParams {
            redirect_uri: Some("http://127.0.0.1:49152/cb".into()),
            ..params()
        }
        .check(&client(None), true)
        .unwrap();
        assert_eq!(checked.redirect_uri, "http://127.0.0.1:49152/cb");
    }

    /// Conformance: a redirect URI with a suffix, another host, or none at all
    /// gets a page; nothing is sent to the URI.
    #[test]
    fn a_redirect_uri_that_is_not_registered_is_a_page() {
        for bad in [
            Some(format!("{CB}/extra")),
            Some(format!("{CB}?x=1")),
            Some("https://attacker.example.com/cb".into()),
            None,
        ] {
            let result = AuthorizeParams {
                redirect_uri: bad.clone(),
                ..params()
            }
            .check(&client(None), false);
            assert_eq!(
                result,
                Err(Refusal::Page(PageRefusal::RedirectUriMismatch)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn pkce_is_s256_only_and_required_of_public_clients() {
        let settings = client(None);
        let no_pkce = AuthorizeParams {
            code_challenge: None,
            code_challenge_method: None,
            ..params()
        };
        assert_eq!(
            refused_with(no_pkce.clone().check(&settings, true)),
            ErrorCode::InvalidRequest
        );
        assert!(
            no_pkce
                .check(&settings, false)
                .unwrap()
                .code_challenge
                .is_none()
        );
        for method in [Some("plain"), None, Some("s256")] {
            let result = AuthorizeParams {
                code_challenge_method: method.map(str::to_owned),
                ..params()
            }
            .check(&settings, false);
            assert_eq!(
                refused_with(result),
                ErrorCode::InvalidRequest,
                "{method:?}"
            );
        }
        let short = AuthorizeParams {
            code_challenge: Some("abc".into()),
            ..params()
        };
        assert_eq!(
            refused_with(short.check(&settings, false)),
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn each_bad_parameter_is_refused_at_the_redirect_uri() {
        let settings = client(None);
        let cases: [(AuthorizeParams, ErrorCode); 7] = [
            (
                AuthorizeParams {
                    response_type: Some("token".into()),
                    ..params()
                },
                ErrorCode::UnsupportedResponseType,
            ),
            (
                AuthorizeParams {
                    response_type: None,
                    ..params()
                },
                ErrorCode::InvalidRequest,
            ),
            (
                AuthorizeParams {
                    scope: Some("custom".into()),
                    ..params()
                },
                ErrorCode::InvalidScope,
            ),
            (
                AuthorizeParams {
                    prompt: Some("none login".into()),
                    ..params()
                },
                ErrorCode::InvalidRequest,
            ),
            (
                AuthorizeParams {
                    max_age: Some("-1".into()),
                    ..params()
                },
                ErrorCode::InvalidRequest,
            ),
            (
                AuthorizeParams {
                    nonce: Some("n".repeat(513)),
                    ..params()
                },
                ErrorCode::InvalidRequest,
            ),
            (
                AuthorizeParams {
                    request: Some("eyJ…".into()),
                    ..params()
                },
                ErrorCode::RequestNotSupported,
            ),
        ];
        for (request, code) in cases {
            assert_eq!(refused_with(request.check(&settings, false)), code);
        }
        let prompts = AuthorizeParams {
            prompt: Some("login consent select_account".into()),
            max_age: Some("0".into()),
            ..params()
        }
        .check(&settings, false)
        .unwrap();
        assert!(prompts.prompt.login && prompts.prompt.consent && !prompts.prompt.none);
        assert_eq!(prompts.max_age, Some(0));
    }

    #[test]
    fn responses_keep_the_clients_query_and_always_name_the_issuer() {
        assert_eq!(
            redirect_with(
                "https://rp.example.com/cb?tenant=a",
                &[("code", "c0de")],
                Some("x y"),
                "https://auth.example.com"
            ),
            "https://rp.example.com/cb?tenant=a&code=c0de&state=x+y&iss=https%3A%2F%2Fauth.example.com"
        );
        let error = RedirectError::new(ErrorCode::AccessDenied, "the user said no");
        assert_eq!(
            error_redirect("com.example.app:/cb", &error, None, "https://a.example"),
            "com.example.app:/cb?error=access_denied&error_description=the+user+said+no&iss=https%3A%2F%2Fa.example"
        );
    }
}
