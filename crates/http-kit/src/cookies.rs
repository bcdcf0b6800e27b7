//! Cookies this service sets: `HttpOnly` always, `SameSite` as asked, and
//! `Secure` whenever the browser will keep it — for an https
//! `PUBLIC_BASE_URL` and for loopback hosts (which browsers treat as secure),
//! not for plain http elsewhere, where a browser would drop a `Secure` cookie
//! and no one could sign in. With `Secure` and the path `/`, a cookie can take
//! the `__Host-` prefix, which no subdomain can set or shadow.

use axum::http::header::COOKIE;
use axum::http::{HeaderMap, HeaderValue};
use cookie::Cookie;
pub use cookie::SameSite;

/// The cookie binding a provider sign-in to the browser that started it
/// (`cz_oauth`): set where a sign-in starts (the API's authorize route, the
/// pages' provider buttons), read at the provider's callback, on the
/// provider routes' path only, `SameSite=Lax` so the provider's redirect
/// back carries it.
pub fn provider_binding(secure: bool) -> CookieSpec {
    CookieSpec::new("cz_oauth", PROVIDER_ROUTES, secure, SameSite::Lax)
}

/// Beside [`provider_binding`] when the hosted pages started the sign-in:
/// the provider's callback then answers a refusal by sending the browser to
/// the pages' landing (a page), not with a problem document.
pub fn provider_from_pages(secure: bool) -> CookieSpec {
    CookieSpec::new("cz_oauth_pages", PROVIDER_ROUTES, secure, SameSite::Lax)
}

/// The provider routes' path prefix (`api_types::paths::OAUTH`).
const PROVIDER_ROUTES: &str = "/api/v1/auth/oauth";

/// How long a provider sign-in may take.
pub const PROVIDER_BINDING_AGE: time::Duration = time::Duration::minutes(10);

/// One cookie's name and attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieSpec {
    name: String,
    path: &'static str,
    secure: bool,
    same_site: SameSite,
}

impl CookieSpec {
    /// `name` on `path`, `Secure` when `secure`.
    pub fn new(name: &str, path: &'static str, secure: bool, same_site: SameSite) -> Self {
        Self {
            name: name.to_owned(),
            path,
            secure,
            same_site,
        }
    }

    /// `__Host-{name}` on `/` when `secure` (the browser then refuses it from
    /// any other origin), plain `name` on `/` otherwise.
    pub fn host_only(name: &str, secure: bool, same_site: SameSite) -> Self {
        let name = if secure {
            format!("__Host-{name}")
        } else {
            name.to_owned()
        };
        Self {
            name,
            path: "/",
            secure,
            same_site,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `Set-Cookie` for `value` (the service's own tokens: base64url), kept for
    /// `max_age`.
    pub fn set(&self, value: &str, max_age: time::Duration) -> HeaderValue {
        assert!(
            value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b)),
            "cookie values are base64url tokens"
        );
        let cookie = Cookie::build((self.name.as_str(), value))
            .path(self.path)
            .max_age(max_age)
            .http_only(true)
            .secure(self.secure)
            .same_site(self.same_site)
            .build();
        HeaderValue::try_from(cookie.to_string()).expect("a base64url cookie is a valid header")
    }

    /// `Set-Cookie` that removes the cookie.
    pub fn clear(&self) -> HeaderValue {
        self.set("", time::Duration::ZERO)
    }

    /// The cookie's value in the request's `Cookie` headers, if sent.
    pub fn read(&self, headers: &HeaderMap) -> Option<String> {
        headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(Cookie::split_parse)
            .filter_map(Result::ok)
            .find(|cookie| cookie.name() == self.name)
            .map(|cookie| cookie.value().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_read_and_clear() {
        let spec = CookieSpec::new("cz_x", "/api", true, SameSite::Lax);
        let set = spec.set("abc-_", time::Duration::minutes(10));
        let set = set.to_str().unwrap();
        for part in [
            "cz_x=abc-_",
            "HttpOnly",
            "Secure",
            "SameSite=Lax",
            "Path=/api",
            "Max-Age=600",
        ] {
            assert!(set.contains(part), "{set} lacks {part}");
        }
        assert!(spec.clear().to_str().unwrap().contains("Max-Age=0"));
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, "a=1; cz_x=v; b=2".parse().unwrap());
        assert_eq!(spec.read(&headers).as_deref(), Some("v"));
        assert_eq!(
            CookieSpec::new("other", "/", true, SameSite::Lax).read(&headers),
            None
        );
    }

    #[test]
    fn host_prefix_only_when_secure() {
        let secure = CookieSpec::host_only("cz_session", true, SameSite::Lax);
        assert_eq!(secure.name(), "__Host-cz_session");
        let set = secure.set("x", time::Duration::hours(1));
        assert!(set.to_str().unwrap().contains("Path=/"));
        let plain = CookieSpec::host_only("cz_session", false, SameSite::Lax);
        assert_eq!(plain.name(), "cz_session");
        assert!(
            !plain
                .set("x", time::Duration::hours(1))
                .to_str()
                .unwrap()
                .contains("Secure")
        );
    }
}
