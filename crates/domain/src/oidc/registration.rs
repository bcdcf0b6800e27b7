//! What a relying party is registered with: its redirect and post-logout
//! URIs (matched byte for byte, RFC 8252's loopback-port exception only), its
//! back-channel logout URI, the scopes it may ask for, how its ID tokens are
//! signed, and whether it is public or first-party. Parsed once, at
//! registration; a stored client is valid by construction.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use url::Url;

use super::scope::{Scope, Scopes};
use crate::validation::{FieldError, ValidationErrors};

/// The most redirect (or post-logout) URIs one client may register.
pub const MAX_URIS: usize = 20;
/// The longest URI accepted (bytes).
pub const MAX_URI_LEN: usize = 2000;

/// Schemes a browser must never be sent to with a code in hand.
const FORBIDDEN_SCHEMES: &[&str] = &["javascript", "data", "file", "vbscript", "blob", "about"];

/// A registered redirect or post-logout URI: absolute, no fragment, no
/// credentials; `https`, `http` on a loopback host (or anywhere outside
/// production), or a private-use scheme of a native app (`com.example.app:/cb`,
/// RFC 8252 §7.1).
#[derive(Clone, PartialEq, Eq)]
pub struct RegisteredUri(Url);

/// How strict registration is about plain `http`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriPolicy {
    /// Production: `http` only on loopback (native apps, RFC 8252 §7.3).
    HttpsOnly,
    /// Development: `http` anywhere.
    AllowHttp,
}

impl RegisteredUri {
    pub fn parse(raw: &str, policy: UriPolicy) -> Result<Self, &'static str> {
        if raw.len() > MAX_URI_LEN {
            return Err("is longer than 2000 characters");
        }
        let url = Url::parse(raw).map_err(|_| "is not an absolute URI")?;
        if url.fragment().is_some() {
            return Err("must not have a fragment");
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not carry credentials");
        }
        // The URL parser normalises (`HTTPS://A.example/` → `https://a.example/`);
        // matching is byte for byte, so only the normal form is registered.
        if url.as_str() != raw {
            return Err("must be written in normal form (lower-case scheme and host, a path)");
        }
        match url.scheme() {
            "https" => Ok(Self(url)),
            "http" if policy == UriPolicy::AllowHttp || is_loopback(&url) => Ok(Self(url)),
            "http" => Err("must use https (http only on a loopback address)"),
            scheme if FORBIDDEN_SCHEMES.contains(&scheme) => Err("uses a forbidden scheme"),
            // Private-use schemes are reverse domain names (RFC 8252 §7.1).
            scheme if scheme.contains('.') => Ok(Self(url)),
            _ => Err("must use https, loopback http or a reverse-domain scheme"),
        }
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Each as written, for storage and for the wire.
    pub fn strings(uris: &[Self]) -> Vec<String> {
        uris.iter().map(|uri| uri.as_str().to_owned()).collect()
    }

    pub fn as_url(&self) -> &Url {
        &self.0
    }

    /// Whether `presented` is this URI: byte for byte, except that a redirect
    /// URI registered on `127.0.0.1` or `[::1]` over http admits any port
    /// (RFC 8252 §7.3; `localhost` is not given the exception, §8.3).
    pub fn admits(&self, presented: &str) -> bool {
        if self.0.as_str() == presented {
            return true;
        }
        if !self.is_loopback_ip() {
            return false;
        }
        let Ok(other) = Url::parse(presented) else {
            return false;
        };
        let mut other_without_port = other.clone();
        let mut own_without_port = self.0.clone();
        other_without_port.set_port(None).is_ok()
            && own_without_port.set_port(None).is_ok()
            && other.as_str() == presented
            && other_without_port == own_without_port
    }

    fn is_loopback_ip(&self) -> bool {
        self.0.scheme() == "http"
            && match self.0.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                _ => false,
            }
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(domain)) => domain == "localhost",
        None => false,
    }
}

impl fmt::Display for RegisteredUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for RegisteredUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RegisteredUri({})", self.as_str())
    }
}

/// How a client's ID tokens are signed (`id_token_signed_response_alg`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum IdTokenAlgorithm {
    #[default]
    RS256,
    ES256,
    EdDSA,
}

impl IdTokenAlgorithm {
    pub const ALL: [Self; 3] = [Self::RS256, Self::ES256, Self::EdDSA];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
            Self::EdDSA => "EdDSA",
        }
    }
}

impl FromStr for IdTokenAlgorithm {
    type Err = ();
    fn from_str(raw: &str) -> Result<Self, ()> {
        Self::ALL
            .into_iter()
            .find(|alg| alg.as_str() == raw)
            .ok_or(())
    }
}

/// A relying party's settings. A client without redirect URIs is a plain API
/// client (introspection, revocation, `client_credentials`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientSettings {
    pub redirect_uris: Vec<RegisteredUri>,
    pub post_logout_redirect_uris: Vec<RegisteredUri>,
    pub backchannel_logout_uri: Option<RegisteredUri>,
    /// Trusted: never asked for consent, always given refresh tokens.
    pub first_party: bool,
    /// The scopes it may ask for.
    pub scopes: Scopes,
    pub id_token_algorithm: IdTokenAlgorithm,
}

impl ClientSettings {
    /// The settings of a client registered with a name only: every scope,
    /// no URIs (what `clients create NAME` made before the provider).
    pub fn api_client() -> Self {
        Self {
            scopes: Scopes::all(),
            ..Self::default()
        }
    }

    /// The registered redirect URI `presented` names, if any.
    pub fn redirect_uri(&self, presented: &str) -> Option<&RegisteredUri> {
        self.redirect_uris.iter().find(|uri| uri.admits(presented))
    }

    /// The registered post-logout URI `presented` is, byte for byte.
    pub fn post_logout_redirect_uri(&self, presented: &str) -> Option<&RegisteredUri> {
        self.post_logout_redirect_uris
            .iter()
            .find(|uri| uri.as_str() == presented)
    }
}

/// What registration accepts here: plain-http URIs or not, and the ID-token
/// algorithms this service holds a key for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationPolicy {
    pub uris: UriPolicy,
    pub id_token_algorithms: Vec<IdTokenAlgorithm>,
}

/// Every algorithm (tests, and stored clients read back).
impl From<UriPolicy> for RegistrationPolicy {
    fn from(uris: UriPolicy) -> Self {
        Self {
            uris,
            id_token_algorithms: IdTokenAlgorithm::ALL.to_vec(),
        }
    }
}

/// A registration as asked for, before it is checked.
#[derive(Debug, Clone, Default)]
pub struct RegistrationRequest {
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub public: bool,
    pub first_party: bool,
    /// `None`: every supported scope.
    pub scopes: Option<Vec<String>>,
    pub id_token_signed_response_alg: Option<String>,
}

/// A checked registration: the settings, and whether the client is public
/// (no secret; PKCE required).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub settings: ClientSettings,
    pub public: bool,
}

impl RegistrationRequest {
    /// Checks every field, naming each bad one.
    pub fn parse(
        self,
        policy: impl Into<RegistrationPolicy>,
    ) -> Result<Registration, ValidationErrors> {
        let RegistrationPolicy {
            uris: policy,
            id_token_algorithms,
        } = policy.into();
        let mut errors = ValidationErrors::new();
        let redirect_uris = uris(&mut errors, "redirect_uris", &self.redirect_uris, policy);
        let post_logout_redirect_uris = uris(
            &mut errors,
            "post_logout_redirect_uris",
            &self.post_logout_redirect_uris,
            policy,
        );
        let backchannel_logout_uri = self.backchannel_logout_uri.as_deref().and_then(|raw| {
            let checked = RegisteredUri::parse(raw, policy)
                .and_then(|uri| match uri.as_url().scheme() {
                    "https" | "http" => Ok(uri),
                    _ => Err("must be an http(s) URL the service can reach"),
                })
                .map_err(|why| FieldError::new("backchannel_logout_uri", why));
            errors.check(checked)
        });
        let scopes = match &self.scopes {
            None => Scopes::all(),
            Some(names) => {
                let mut scopes = Scopes::none();
                for name in names {
                    match name.parse::<Scope>() {
                        Ok(scope) => scopes.insert(scope),
                        Err(()) => errors.push(FieldError::new(
                            "scopes",
                            format!("{name:?} is not a supported scope"),
                        )),
                    }
                }
                scopes
            }
        };
        let id_token_algorithm = match self.id_token_signed_response_alg.as_deref() {
            None => IdTokenAlgorithm::default(),
            Some(raw) => errors
                .check(raw.parse().map_err(|()| {
                    FieldError::new(
                        "id_token_signed_response_alg",
                        "must be RS256, ES256 or EdDSA",
                    )
                }))
                .unwrap_or_default(),
        };
        if !id_token_algorithms.contains(&id_token_algorithm) {
            errors.push(FieldError::new(
                "id_token_signed_response_alg",
                format!(
                    "this service holds no {} key (RS256 always; ES256 or EdDSA when \
                     JWT_ALGORITHM is that algorithm)",
                    id_token_algorithm.as_str()
                ),
            ));
        }
        if self.public && self.redirect_uris.is_empty() {
            errors.push(FieldError::new(
                "redirect_uris",
                "a public client needs at least one redirect URI",
            ));
        }
        if redirect_uris.is_empty()
            && (!self.post_logout_redirect_uris.is_empty() || self.backchannel_logout_uri.is_some())
        {
            errors.push(FieldError::new(
                "redirect_uris",
                "logout URIs need a client that signs users in (a redirect URI)",
            ));
        }
        errors.into_result()?;
        Ok(Registration {
            settings: ClientSettings {
                redirect_uris,
                post_logout_redirect_uris,
                backchannel_logout_uri,
                first_party: self.first_party,
                scopes,
                id_token_algorithm,
            },
            public: self.public,
        })
    }
}

fn uris(
    errors: &mut ValidationErrors,
    field: &'static str,
    raw: &[String],
    policy: UriPolicy,
) -> Vec<RegisteredUri> {
    if raw.len() > MAX_URIS {
        errors.push(FieldError::new(field, "at most 20 URIs"));
        return Vec::new();
    }
    let mut parsed: Vec<RegisteredUri> = Vec::with_capacity(raw.len());
    for uri in raw {
        match RegisteredUri::parse(uri, policy) {
            Ok(uri) if parsed.contains(&uri) => {}
            Ok(uri) => parsed.push(uri),
            Err(why) => errors.push(FieldError::new(field, format!("{uri:?} {why}"))),
        }
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(raw: &str) -> RegisteredUri {
        RegisteredUri::parse(raw, UriPolicy::HttpsOnly).unwrap()
    }

    #[test]
    fn redirect_uris_are_absolute_normal_and_safe() {
        for good in [
            "https://app.example.com/cb",
            "https://app.example.com/cb?x=1",
            "http://127.0.0.1/cb",
            "http://[::1]:8080/cb",
            "http://localhost:3000/cb",
            "com.example.app:/oauth2redirect",
        ] {
            assert!(
                RegisteredUri::parse(good, UriPolicy::HttpsOnly).is_ok(),
                "{good}"
            );
        }
        for bad in [
            "https://app.example.com/cb#x",
            "http://app.example.com/cb",
            "javascript:alert(1)",
            "data:text/html,x",
            "/relative",
            "https://user:pw@app.example.com/cb",
            "HTTPS://app.example.com/cb",
            "https://app.example.com",
            "myapp:/cb",
        ] {
            assert!(
                RegisteredUri::parse(bad, UriPolicy::HttpsOnly).is_err(),
                "{bad}"
            );
        }
        assert!(RegisteredUri::parse("http://app.example.com/cb", UriPolicy::AllowHttp).is_ok());
    }

    #[test]
    fn matching_is_byte_for_byte_with_the_loopback_port_exception() {
        let registered = uri("https://app.example.com/cb");
        assert!(registered.admits("https://app.example.com/cb"));
        for other in [
            "https://app.example.com/cb/",
            "https://app.example.com/cbx",
            "https://app.example.com/cb?x=1",
            "https://APP.example.com/cb",
            "https://app.example.com:443/cb",
            "https://app.example.com/CB",
        ] {
            assert!(!registered.admits(other), "{other}");
        }
        let loopback = uri("http://127.0.0.1/cb");
        assert!(loopback.admits("http://127.0.0.1:51234/cb"));
        assert!(!loopback.admits("http://127.0.0.1:51234/cb2"));
        assert!(!loopback.admits("http://127.0.0.2:51234/cb"));
        assert!(uri("http://[::1]:8080/cb").admits("http://[::1]:9/cb"));
        // `localhost` may resolve elsewhere: no exception.
        assert!(!uri("http://localhost:3000/cb").admits("http://localhost:3001/cb"));
    }

    #[test]
    fn registrations_name_every_bad_field() {
        let request = RegistrationRequest {
            redirect_uris: vec!["https://a.example.com/cb#f".into()],
            post_logout_redirect_uris: vec!["javascript:x".into()],
            backchannel_logout_uri: Some("com.example.app:/logout".into()),
            scopes: Some(vec!["openid".into(), "admin".into()]),
            id_token_signed_response_alg: Some("none".into()),
            public: true,
            first_party: false,
        };
        let errors = request.parse(UriPolicy::HttpsOnly).unwrap_err();
        let fields: Vec<_> = errors.errors().iter().map(|e| e.field.as_ref()).collect();
        for field in [
            "redirect_uris",
            "post_logout_redirect_uris",
            "backchannel_logout_uri",
            "scopes",
            "id_token_signed_response_alg",
        ] {
            assert!(fields.contains(&field), "{field}: {fields:?}");
        }
    }

    #[test]
    fn only_algorithms_with_a_key_are_registered() {
        let policy = RegistrationPolicy {
            uris: UriPolicy::HttpsOnly,
            id_token_algorithms: vec![IdTokenAlgorithm::RS256, IdTokenAlgorithm::EdDSA],
        };
        let asking = |alg: &str| RegistrationRequest {
            redirect_uris: vec!["https://a.example.com/cb".into()],
            id_token_signed_response_alg: Some(alg.into()),
            ..RegistrationRequest::default()
        };
        assert!(asking("EdDSA").parse(policy.clone()).is_ok());
        let errors = asking("ES256").parse(policy).unwrap_err();
        assert_eq!(errors.errors()[0].field, "id_token_signed_response_alg");
    }

    #[test]
    fn a_name_only_registration_is_an_api_client() {
        let registration = RegistrationRequest::default()
            .parse(UriPolicy::HttpsOnly)
            .unwrap();
        assert_eq!(registration.settings, ClientSettings::api_client());
        assert!(!registration.public);
        let public = RegistrationRequest {
            public: true,
            ..RegistrationRequest::default()
        };
        assert!(public.parse(UriPolicy::HttpsOnly).is_err());
    }
}
