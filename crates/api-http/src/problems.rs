//! Problem responses declared once per family, for the OpenAPI document: a
//! handler lists the families it can answer with (`responses(.., Bearer,
//! Limited)`) and writes its own tuples only for what is its alone. Every
//! 4xx/5xx response without content gets the `Problem` schema as
//! `application/problem+json` in `document_problems` (lib.rs), so no handler
//! repeats it.

use std::collections::BTreeMap;

use utoipa::IntoResponses;
use utoipa::openapi::{RefOr, ResponseBuilder, response::Response};

/// `(status, description)` pairs as responses (their `Problem` content is
/// added with the rest).
fn problems(list: &[(&str, &str)]) -> BTreeMap<String, RefOr<Response>> {
    list.iter()
        .map(|(status, description)| {
            let response = ResponseBuilder::new().description(*description).build();
            ((*status).to_owned(), RefOr::T(response))
        })
        .collect()
}

/// Routes that need a bearer token.
pub(crate) struct Bearer;

impl IntoResponses for Bearer {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problems(&[(
            "401",
            "`unauthorized`: a missing, malformed, invalid or expired token, or an ended session (with `WWW-Authenticate`)",
        )])
    }
}

/// The admin API: a bearer token of a user with the `admin` role.
pub(crate) struct AdminOnly;

impl IntoResponses for AdminOnly {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut responses = Bearer::responses();
        responses.extend(problems(&[(
            "403",
            "`forbidden`: the user does not have the `admin` role",
        )]));
        responses
    }
}

/// Routes counted against the client address's limit.
pub(crate) struct Limited;

impl IntoResponses for Limited {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problems(&[(
            "429",
            "`rate_limited`: too many requests from this address (or for this account); see `Retry-After` and the `RateLimit-*` headers",
        )])
    }
}

/// Changes that need a recent sign-in (`STEP_UP_MAX_AGE`).
pub(crate) struct StepUp;

impl IntoResponses for StepUp {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problems(&[(
            "403",
            "`reauthentication_required`: the sign-in is older than `STEP_UP_MAX_AGE`; sign in again and retry",
        )])
    }
}

/// A body or query that fails validation.
pub(crate) struct Invalid;

impl IntoResponses for Invalid {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problems(&[(
            "422",
            "`validation_failed`: a missing or invalid field, each named in `errors`",
        )])
    }
}
