//! The bearer user: who an `Authorization: Bearer` access token names, once
//! its signature, claims and session are checked.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use domain::auth::{AuthService, Principal};
use domain::error::{AuthError, Denial};

use crate::access::UserSlot;

/// The token of an `Authorization: Bearer …` header (the scheme in any case).
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, Denial> {
    let header = headers.get(AUTHORIZATION).ok_or(Denial::MissingToken)?;
    header
        .to_str()
        .ok()
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty())
        .ok_or(Denial::MalformedHeader)
}

/// The principal of the request's bearer token, whose session must be active.
/// The user is recorded on the request span (every later line names them) and
/// for the access line. Each front door wraps this in its own extractor, with
/// its own way of refusing.
pub async fn authenticate(parts: &Parts, auth: &AuthService) -> Result<Principal, AuthError> {
    let token = bearer_token(&parts.headers).map_err(AuthError::Denied)?;
    let principal = auth.authenticate(token).await?;
    tracing::Span::current().record("user_id", tracing::field::display(principal.user_id));
    if let Some(slot) = parts.extensions.get::<UserSlot>() {
        slot.set(principal.user_id);
    }
    Ok(principal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_required_and_case_insensitive() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(AUTHORIZATION, value.parse().unwrap());
            headers
        };
        assert_eq!(bearer_token(&with("Bearer abc")), Ok("abc"));
        assert_eq!(bearer_token(&with("bearer  abc ")), Ok("abc"));
        assert_eq!(
            bearer_token(&with("Basic abc")),
            Err(Denial::MalformedHeader)
        );
        assert_eq!(bearer_token(&with("Bearer ")), Err(Denial::MalformedHeader));
        assert_eq!(bearer_token(&HeaderMap::new()), Err(Denial::MissingToken));
    }
}
