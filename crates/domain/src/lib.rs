//! The heart of codezest-auth: entities, value types that parse on construction,
//! the ports (every trait through which storage, caches and identity providers
//! are reached), password hashing (argon2id), access-token issue and
//! verification (JWT) and the auth services.
//!
//! This crate does no I/O of its own and must not depend on an I/O crate (no sqlx,
//! axum, fred, moka or reqwest): the world arrives through the traits in
//! [`ports`], wired together by the `app` crate. Domain types are not
//! `Serialize`; the HTTP layer converts them into its own DTOs.
//!
//! Module order (no cycles; `cargo xtask tidy` checks it and prints it, and
//! `docs/ARCHITECTURE.md` states it).

pub mod account;
pub mod admin;
pub mod amr;
pub mod audit;
pub mod auth;
pub mod client_info;
pub mod clients;
pub mod error;
pub mod federation;
pub mod ids;
pub mod introspection;
pub mod links;
pub mod mail;
pub mod mfa;
pub mod oidc;
pub mod passkey;
pub mod password;
pub mod ports;
pub mod provider;
pub mod refresh;
pub mod roles;
pub mod signin;
pub mod throttle;
pub mod tokens;
pub mod user;
pub mod validation;

// The value types: parsed on construction, used by every crate. Everything
// else is reached by its module path (`domain::auth::AuthService`,
// `domain::ports::UserRepository`, `domain::error::AuthError`).
pub use amr::{Amr, MfaMethods};
pub use client_info::ClientInfo;
pub use ids::{ClientId, SessionId, UserId};
pub use links::HttpUrl;
pub use password::{NewPassword, Password, PasswordHash};
pub use ports::ClientName;
pub use refresh::{MailToken, RefreshToken, TokenHash};
pub use user::{DisplayName, Email, ProfileUpdate, ProviderName};
pub use validation::{FieldError, ValidationErrors};
