//! `APP_ENV`, `BIND_ADDR`, `METRICS_ADDR`, `PUBLIC_BASE_URL`, `HTTP_HEADER_READ_TIMEOUT`.

use std::net::SocketAddr;
use std::time::Duration;

use domain::HttpUrl;

use super::env::{Env, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Production,
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub app_env: AppEnv,
    pub bind_addr: SocketAddr,
    /// Prometheus `/metrics`, kept off the public listener.
    pub metrics_addr: SocketAddr,
    /// How long a connection has to deliver a complete request head, from
    /// its opening or the previous response (so idle kept-alive connections
    /// close after it too).
    pub header_read_timeout: Duration,
    /// `PUBLIC_BASE_URL`: the service as browsers reach it — provider
    /// redirect URIs, the mailed links' default, WebAuthn's default origin,
    /// metadata, cookies' `Secure`.
    pub public_base_url: HttpUrl,
}

impl ServerSettings {
    pub fn from_env(env: &Env<'_>) -> Result<Self> {
        Ok(Self {
            app_env: env.choice(
                "APP_ENV",
                "development",
                &[
                    ("development", AppEnv::Development),
                    ("dev", AppEnv::Development),
                    ("test", AppEnv::Development),
                    ("production", AppEnv::Production),
                    ("prod", AppEnv::Production),
                ],
            )?,
            bind_addr: env.parse(
                "BIND_ADDR",
                "127.0.0.1:3001",
                "a socket address like 127.0.0.1:3001",
            )?,
            metrics_addr: env.parse(
                "METRICS_ADDR",
                "127.0.0.1:9464",
                "a socket address like 127.0.0.1:9464",
            )?,
            header_read_timeout: env.seconds("HTTP_HEADER_READ_TIMEOUT", 30, 1)?,
            public_base_url: env.base_url("PUBLIC_BASE_URL", "http://127.0.0.1:3001")?,
        })
    }
}
