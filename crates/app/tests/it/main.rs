//! End-to-end tests: the real service on port 0, a fresh PostgreSQL database per
//! test, driven over HTTP.

mod helpers;
#[path = "../support/soft_browser.rs"]
mod soft_browser;

mod account;
mod admin;
mod backchannel;
#[cfg(feature = "cache")]
mod browser;
#[cfg(feature = "cache")]
mod cache;
mod chaos;
mod errors;
#[cfg(feature = "cache")]
mod faults;
#[cfg(feature = "cache")]
mod fuzz;
mod gateway;
mod independent_rp;
mod introspection;
mod limits;
mod logs;
mod machine_tokens;
mod mfa;
mod node_rp;
mod oauth;
mod oidc;
mod pages;
mod passkeys;
mod pooler;
mod recovery;
mod refresh;
mod relying_parties;
mod roles;
mod sessions;
mod shutdown;
mod system;
mod tokens;
mod ui;
