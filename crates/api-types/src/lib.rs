//! The HTTP API's contract: every JSON shape it reads or writes, the problem
//! documents it answers with, the OAuth 2.0 wire types, and every path
//! ([`paths`]). The server (`api-http`) registers its handlers under these
//! paths and (de)serialises these types; its tests, the benchmark and Rust
//! clients use the same ones, so a change to the contract is a change here
//! that the compiler follows everywhere.
//!
//! Plain data: `Serialize` and `Deserialize`, no domain types, no HTTP. The
//! OpenAPI schema of each type (utoipa) comes with the `openapi` feature.

pub mod paths;

mod account;
mod admin;
mod auth;
mod federation;
mod mfa;
mod oidc;
mod passkeys;
mod problem;
mod provider;
mod system;

pub use account::*;
pub use admin::*;
pub use auth::*;
pub use federation::*;
pub use mfa::*;
pub use oidc::*;
pub use passkeys::*;
pub use problem::*;
pub use provider::*;
pub use system::*;
