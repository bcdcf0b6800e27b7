//! The OpenID provider's domain: relying parties' registrations and the
//! scopes they ask for. Built on the browser session of the hosted pages and
//! on the access tokens' session check, so whatever ends a session ends what
//! a relying party holds from it.

mod authorize;
mod registration;
mod scope;

pub use authorize::{
    AuthorizeParams, CheckedRequest, ErrorCode, MAX_PARAM_LEN, PageRefusal, PromptRequest,
    RedirectError, Refusal, error_redirect, redirect_uri_of, redirect_with, s256_challenge,
};
pub use registration::{
    ClientSettings, IdTokenAlgorithm, MAX_URI_LEN, MAX_URIS, RegisteredUri, Registration,
    RegistrationPolicy, RegistrationRequest, UriPolicy,
};
pub use scope::{Scope, Scopes};
