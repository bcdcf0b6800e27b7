//! Edge support shared by every router this service serves — the JSON API,
//! the hosted pages and the OpenID provider: the client's address, the bearer
//! user, client credentials (RFC 6749 §2.3.1), rate limits as a layer, cookies,
//! the security-header sets (JSON API; HTML pages) and the access log.
//!
//! Nothing here knows a response format: what is refused is data
//! ([`limit::Throttled`], [`credentials::CredentialsError`],
//! [`domain::error::AuthError`]) that each front door renders its own way
//! (problem+json, a page, RFC 6749 JSON).

pub mod access;
pub mod bearer;
pub mod client;
pub mod cookies;
pub mod credentials;
pub mod headers;
pub mod limit;

pub use client::{Client, TrustedProxies};
