//! `LOG_FORMAT`, `ACCESS_LOG`, `OTEL_EXPORTER_OTLP_ENDPOINT`.

use super::env::{ConfigError, Env, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone)]
pub struct TelemetrySettings {
    pub log_format: LogFormat,
    /// One line per answered request (`ACCESS_LOG`, default on).
    pub access_log: bool,
    /// Export spans over OTLP/HTTP to it (e.g. `http://otel-collector:4318`);
    /// unset, spans stay local.
    pub otlp_endpoint: Option<String>,
}

impl TelemetrySettings {
    pub fn from_env(env: &Env<'_>) -> Result<Self> {
        let otlp_endpoint = env
            .optional_http_url("OTEL_EXPORTER_OTLP_ENDPOINT")
            .map_err(|_| {
                ConfigError::new(
                    "OTEL_EXPORTER_OTLP_ENDPOINT",
                    "must be an http:// or https:// URL (OTLP over HTTP)",
                )
            })?;
        Ok(Self {
            log_format: env.choice(
                "LOG_FORMAT",
                "pretty",
                &[
                    ("pretty", LogFormat::Pretty),
                    ("text", LogFormat::Pretty),
                    ("json", LogFormat::Json),
                ],
            )?,
            access_log: env.flag("ACCESS_LOG", true)?,
            otlp_endpoint,
        })
    }
}
