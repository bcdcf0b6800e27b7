//! The OpenID provider's domain: relying parties' registrations and the
//! scopes they ask for. Built on the browser session of the hosted pages and
//! on the access tokens' session check, so whatever ends a session ends what
//! a relying party holds from it.

mod registration;
mod scope;

pub use registration::{
    ClientSettings, IdTokenAlgorithm, MAX_URI_LEN, MAX_URIS, RegisteredUri, Registration,
    RegistrationPolicy, RegistrationRequest, UriPolicy,
};
pub use scope::{Scope, Scopes};
