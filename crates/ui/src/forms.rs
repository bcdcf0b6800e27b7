//! Posted forms, checked against cross-site request forgery before anything
//! reads them:
//! - `Sec-Fetch-Site`, when the browser sends it, must be `same-origin`
//!   (or `none`: typed by the user);
//! - `Origin`, when sent, must be this service's (`PUBLIC_BASE_URL`, or the
//!   `Host` the request was sent to);
//! - the form's `csrf_token` must be the one its page rendered: a MAC, under a
//!   key only this service holds, of the browser's binding cookie and the
//!   form's action path — so a token neither outlives the cookie nor serves
//!   another form, and a site that could plant a cookie still cannot make one.
//!
//! A refused form answers 403 with a page and changes nothing.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::HeaderMap;
use axum::http::header::{HOST, ORIGIN};
use axum::http::request::Parts;
use axum::response::Response;
use serde::de::DeserializeOwned;

use crate::UiState;
use crate::ctx::Page;
use crate::error::UiError;

/// A form that passed the checks, as `T`.
pub struct Posted<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequest<UiState> for Posted<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &UiState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        if !same_origin(&parts.headers, &state.0.origin) {
            tracing::warn!(path = parts.uri.path(), "cross-site form refused");
            return Err(refuse(&mut parts, state, UiError::Forgery).await);
        }
        let Ok(bytes) = Bytes::from_request(Request::from_parts(parts.clone(), body), state).await
        else {
            return Err(refuse(&mut parts, state, UiError::BadForm).await);
        };
        let token = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
            .ok()
            .and_then(|fields| {
                fields
                    .into_iter()
                    .find(|(name, _)| name == "csrf_token")
                    .map(|(_, value)| value)
            });
        let binding = state.0.cookies.forms.read(&parts.headers);
        let valid = match (token, binding) {
            (Some(token), Some(binding)) => state
                .auth
                .form_secret()
                .verify(&[binding.as_bytes(), parts.uri.path().as_bytes()], &token),
            _ => false,
        };
        if !valid {
            tracing::warn!(
                path = parts.uri.path(),
                "form without a valid anti-forgery token refused"
            );
            return Err(refuse(&mut parts, state, UiError::Forgery).await);
        }
        match serde_urlencoded::from_bytes::<T>(&bytes) {
            Ok(form) => Ok(Self(form)),
            Err(_) => Err(refuse(&mut parts, state, UiError::BadForm).await),
        }
    }
}

/// A refused form's page.
async fn refuse(parts: &mut Parts, state: &UiState, error: UiError) -> Response {
    match Page::from_request_parts(parts, state).await {
        Ok(page) => page.refusal(error),
        Err(response) => response,
    }
}

/// Whether the request's fetch metadata and `Origin` (when sent) say it comes
/// from this origin.
fn same_origin(headers: &HeaderMap, origin: &str) -> bool {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &axum::http::HeaderValue| v.to_str().ok())
    };
    if let Some(site) = text("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    let Some(sent) = headers.get(ORIGIN) else {
        return true;
    };
    let Ok(sent) = sent.to_str() else {
        return false;
    };
    if sent == origin {
        return true;
    }
    // The host the browser sent the request to (a deployment reached under
    // more than one name, or a test on port 0).
    let host = headers.get(HOST).and_then(|v| v.to_str().ok());
    match (sent.split_once("://"), host) {
        (Some(("http" | "https", authority)), Some(host)) => authority == host,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn only_this_origin_may_post() {
        let us = "https://auth.example.com";
        assert!(same_origin(&headers(&[]), us));
        assert!(same_origin(
            &headers(&[("origin", "https://auth.example.com")]),
            us
        ));
        assert!(same_origin(
            &headers(&[
                ("origin", "http://127.0.0.1:4000"),
                ("host", "127.0.0.1:4000")
            ]),
            us
        ));
        assert!(!same_origin(
            &headers(&[("origin", "https://evil.example")]),
            us
        ));
        assert!(!same_origin(
            &headers(&[
                ("origin", "https://evil.example"),
                ("host", "auth.example.com")
            ]),
            us
        ));
        assert!(!same_origin(&headers(&[("origin", "null")]), us));
        assert!(!same_origin(
            &headers(&[("sec-fetch-site", "cross-site")]),
            us
        ));
        assert!(!same_origin(
            &headers(&[("sec-fetch-site", "same-site")]),
            us
        ));
        assert!(same_origin(
            &headers(&[("sec-fetch-site", "same-origin")]),
            us
        ));
        assert!(same_origin(&headers(&[("sec-fetch-site", "none")]), us));
    }
}
