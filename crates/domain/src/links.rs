//! URLs once parsed — the service's public base (`PUBLIC_BASE_URL`), the
//! front end's (`APP_URL`), the entries of an allow-list — and the one builder
//! of the links the service mails. Checked once, at start-up or at the edge;
//! never re-parsed per request.

use std::fmt;
use std::net::IpAddr;

use url::Url;

use crate::refresh::MailToken;

/// An absolute `http`/`https` URL with a host and no credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpUrl(Url);

impl HttpUrl {
    /// `None` for anything else: a relative or scheme-relative URL,
    /// `javascript:`, `ftp:`, `https://user@host/`, a host-less URL.
    pub fn parse(raw: &str) -> Option<Self> {
        let url = Url::parse(raw).ok()?;
        (matches!(url.scheme(), "http" | "https")
            && url.host_str().is_some()
            && url.username().is_empty()
            && url.password().is_none())
        .then_some(Self(url))
    }

    pub fn as_url(&self) -> &Url {
        &self.0
    }

    /// Without a trailing slash, as the configuration writes it
    /// (`https://auth.example.com`, `https://example.com/auth`).
    pub fn base(&self) -> &str {
        self.0.as_str().trim_end_matches('/')
    }

    /// `{base}{path}`, for an absolute `path` (`/api/v1/…`).
    pub fn join(&self, path: &str) -> String {
        debug_assert!(path.starts_with('/'), "{path}");
        format!("{}{path}", self.base())
    }

    /// Whether browsers treat the origin as secure: `https`, or a loopback
    /// host (`localhost`, `127.0.0.0/8`, `::1`), where `Secure` cookies work
    /// over plain http.
    pub fn is_secure_context(&self) -> bool {
        if self.0.scheme() == "https" {
            return true;
        }
        match self.0.host() {
            Some(url::Host::Domain(domain)) => {
                domain == "localhost" || domain.ends_with(".localhost")
            }
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
            None => false,
        }
    }

    /// As an allow-list entry: whether `target` has this origin and a path
    /// equal to or below this one's (`https://app.example.com/cb` admits
    /// `…/cb` and `…/cb/x`, never `…/cbx`).
    pub fn admits(&self, target: &HttpUrl) -> bool {
        let prefix = self.0.path().trim_end_matches('/');
        target.0.origin() == self.0.origin()
            && (prefix.is_empty()
                || target.0.path() == prefix
                || target
                    .0
                    .path()
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with('/')))
    }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.base())
    }
}

impl fmt::Debug for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HttpUrl({})", self.base())
    }
}

/// The links the service mails: `{APP_URL}/{page}?token=…` (reset,
/// verification, email change, sign-in method removal).
#[derive(Clone, Debug)]
pub struct MailedLinks {
    app_url: HttpUrl,
}

impl MailedLinks {
    pub fn new(app_url: HttpUrl) -> Self {
        Self { app_url }
    }

    pub fn link(&self, page: &str, token: &MailToken) -> String {
        format!("{}/{page}?token={}", self.app_url.base(), token.expose())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(raw: &str) -> HttpUrl {
        HttpUrl::parse(raw).unwrap()
    }

    #[test]
    fn only_absolute_http_urls_without_credentials_parse() {
        assert!(HttpUrl::parse("https://app.example.com/cb?x=1").is_some());
        for bad in [
            "https://evil.com@app.example.com/",
            "javascript:alert(1)",
            "//app.example.com",
            "ftp://app.example.com",
            "/relative",
            "https://user:pw@app.example.com/",
        ] {
            assert!(HttpUrl::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn bases_join_without_double_slashes() {
        assert_eq!(
            url("https://a.example.com/").base(),
            "https://a.example.com"
        );
        assert_eq!(
            url("https://a.example.com").join("/x"),
            "https://a.example.com/x"
        );
        assert_eq!(
            url("https://a.example.com/auth/").join("/x"),
            "https://a.example.com/auth/x"
        );
    }

    #[test]
    fn entries_admit_their_origin_and_paths_below_theirs() {
        let entry = url("https://app.example.com/cb");
        assert!(entry.admits(&url("https://app.example.com/cb")));
        assert!(entry.admits(&url("https://app.example.com/cb/deeper?x=1")));
        assert!(!entry.admits(&url("https://app.example.com/cbx")));
        assert!(!entry.admits(&url("http://app.example.com/cb")));
        assert!(!entry.admits(&url("https://app.example.com:444/cb")));
        assert!(url("https://app.example.com").admits(&url("https://app.example.com/any")));
    }

    #[test]
    fn secure_contexts_are_https_and_loopback() {
        assert!(url("https://a.example.com").is_secure_context());
        assert!(url("http://localhost:3000").is_secure_context());
        assert!(url("http://127.0.0.1:3001").is_secure_context());
        assert!(url("http://[::1]:3001").is_secure_context());
        assert!(!url("http://a.example.com").is_secure_context());
        assert!(!url("http://192.168.1.20:3001").is_secure_context());
        assert!(!url("http://auth.lan").is_secure_context());
    }
}
