//! The security headers, as two sets: one for the JSON API (nothing in an
//! answer may run, be framed, be sniffed into something else, submit a form
//! or leak where it came from) and one for the HTML pages (their own scripts,
//! styles and images, forms posting to this origin, never framed).
//!
//! Each set is a layer a router puts on its own routes. `Cache-Control:
//! no-store` is added where a handler set none. The pages' policy is a
//! default: a page may send its own `Content-Security-Policy` (the provider's
//! consent form widens `form-action` to the client's redirect URI, which
//! browsers check on the redirect after a POST); the API's always wins.

use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use tower::util::MapResponseLayer;

/// The JSON API's policy: JSON needs no script, style, frame or form.
pub const JSON_API_CSP: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The pages' policy: their own scripts (WebAuthn), styles and images (and
/// `data:` images: the TOTP QR code), `fetch` to this origin, forms that post
/// here, never framed.
pub const HTML_PAGES_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// A layer adding one of the sets to every answer of the routes it wraps.
pub type SecurityHeaders = MapResponseLayer<fn(Response) -> Response>;

/// The JSON API's set.
pub fn json_api() -> SecurityHeaders {
    MapResponseLayer::new(json_api_headers as fn(Response) -> Response)
}

/// The HTML pages' set.
pub fn html_pages() -> SecurityHeaders {
    MapResponseLayer::new(html_pages_headers as fn(Response) -> Response)
}

fn common(headers: &mut HeaderMap) {
    headers
        .entry(CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

fn json_api_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    common(headers);
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(JSON_API_CSP),
    );
    response
}

fn html_pages_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    common(headers);
    // Pages link to each other; other sites learn only the origin.
    headers.insert(
        REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    headers
        .entry(CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(HTML_PAGES_CSP));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_set_overrides_and_the_page_set_defaults() {
        let mut answered = Response::new(axum::body::Body::empty());
        answered.headers_mut().insert(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("form-action 'self' https://rp.example"),
        );
        answered.headers_mut().insert(
            CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        );
        let page = html_pages_headers(answered);
        assert_eq!(
            page.headers()[CONTENT_SECURITY_POLICY],
            "form-action 'self' https://rp.example"
        );
        assert_eq!(page.headers()[CACHE_CONTROL], "public, max-age=300");
        let api = json_api_headers(page);
        assert_eq!(api.headers()[CONTENT_SECURITY_POLICY], JSON_API_CSP);
        let fresh = html_pages_headers(Response::new(axum::body::Body::empty()));
        assert_eq!(fresh.headers()[CONTENT_SECURITY_POLICY], HTML_PAGES_CSP);
        assert_eq!(fresh.headers()[CACHE_CONTROL], "no-store");
        assert_eq!(fresh.headers()[X_FRAME_OPTIONS], "DENY");
        assert_eq!(fresh.headers()[X_CONTENT_TYPE_OPTIONS], "nosniff");
    }
}
