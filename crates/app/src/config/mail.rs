//! `APP_URL`, `SMTP_URL`, `MAIL_FROM`, `MAIL_DIR`, `AUDIT_RETENTION_DAYS`:
//! account mail and the audit trail.

use std::path::PathBuf;
use std::time::Duration;

use domain::HttpUrl;
use secrecy::SecretString;

use super::env::{ConfigError, Env, Result};
use super::server::AppEnv;

/// Where mail goes.
#[derive(Debug, Clone)]
pub enum MailTransport {
    /// `SMTP_URL`: never printed.
    Smtp(SecretString),
    /// Development without `SMTP_URL`: `.eml` files.
    Files(PathBuf),
}

#[derive(Debug, Clone)]
pub struct MailSettings {
    /// The front end's base URL, for the links in mails.
    pub app_url: HttpUrl,
    pub transport: MailTransport,
    pub from: lettre::message::Mailbox,
    /// How long an SMTP exchange may take.
    pub smtp_timeout: Duration,
    /// `MAIL_SENDER_ENABLED=false` runs no sender in this instance (mail is
    /// still queued; another instance sends it).
    pub sender_enabled: bool,
    pub audit_retention: Duration,
}

impl MailSettings {
    /// `APP_URL` defaults to the hosted pages (`{PUBLIC_BASE_URL}/ui`) when
    /// they are served, to `PUBLIC_BASE_URL` otherwise.
    pub fn from_env(
        env: &Env<'_>,
        app_env: AppEnv,
        public_base_url: &HttpUrl,
        pages: bool,
    ) -> Result<Self> {
        let default_app_url = if pages {
            public_base_url.join(api_types::paths::UI)
        } else {
            public_base_url.base().to_owned()
        };
        let app_url = env.base_url("APP_URL", &default_app_url)?;
        let transport = match env.secret("SMTP_URL") {
            Some(url) => MailTransport::Smtp(url),
            None if app_env == AppEnv::Production => {
                return Err(ConfigError::new(
                    "SMTP_URL",
                    "is required with APP_ENV=production (smtp://user:pass@host:587 or smtps://…)",
                ));
            }
            None => MailTransport::Files(PathBuf::from(
                env.get("MAIL_DIR")
                    .unwrap_or_else(|| "target/mail".to_owned()),
            )),
        };
        let from = env.parse(
            "MAIL_FROM",
            "CodeZest <no-reply@localhost>",
            "a mailbox like `CodeZest <no-reply@example.com>`",
        )?;
        let retention_days: u64 = env.parse("AUDIT_RETENTION_DAYS", "90", "a number of days")?;
        if retention_days == 0 {
            return Err(ConfigError::new(
                "AUDIT_RETENTION_DAYS",
                "must be at least 1",
            ));
        }
        Ok(Self {
            app_url,
            transport,
            from,
            smtp_timeout: env.seconds("SMTP_TIMEOUT", 10, 1)?,
            sender_enabled: env.flag("MAIL_SENDER_ENABLED", true)?,
            audit_retention: Duration::from_secs(retention_days * 86_400),
        })
    }
}
