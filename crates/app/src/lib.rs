//! The `codezest-auth` service: configuration, wiring, start-up and shutdown.
//!
//! The only crate that picks concrete types: it chooses the repositories (and,
//! once the cache lands, whether they are wrapped in it) and hands the domain's
//! traits to `api-http`.

pub mod config;
pub mod metrics;
mod server;
pub mod startup;
pub mod telemetry;
