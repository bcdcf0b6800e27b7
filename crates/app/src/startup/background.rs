//! The tasks that run beside the server: mail, retention, purges.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use domain::{
    passkey::PasskeyService, ports::AuditLog, ports::MailOutbox, ports::MfaRepository,
    ports::ProviderRepository,
};
use mail::{Sender, SenderSettings, Transport};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::config::{MailSettings, MailTransport};

/// The outbox and the signal that something was queued in this process.
pub(super) struct Outbox {
    pub(super) outbox: Arc<dyn MailOutbox>,
    pub(super) queued: Arc<Notify>,
}

/// The background sender of queued mail, unless this instance runs none.
pub(super) fn mail_sender(
    settings: &MailSettings,
    outbox: Outbox,
) -> anyhow::Result<Option<JoinHandle<()>>> {
    let transport = match &settings.transport {
        MailTransport::Smtp(url) => {
            Transport::smtp(url, settings.smtp_timeout).context("SMTP_URL")?
        }
        MailTransport::Files(dir) => Transport::files(dir.clone()).context("MAIL_DIR")?,
    };
    if !settings.sender_enabled {
        tracing::info!("MAIL_SENDER_ENABLED=false: mail is queued for other instances to send");
        return Ok(None);
    }
    if let Transport::Files { .. } = transport {
        tracing::warn!(
            transport = %transport.describe(),
            "no SMTP_URL: mail is written as .eml files (development only)"
        );
    } else {
        tracing::info!(transport = %transport.describe(), "mail sender started");
    }
    let mut sender_settings = SenderSettings::new(settings.from.clone());
    // A claimed mail stays reserved well past one SMTP exchange.
    sender_settings.lease = settings.smtp_timeout * 3;
    let sender = Sender::new(outbox.outbox, transport, sender_settings, outbox.queued);
    Ok(Some(tokio::spawn(sender.run())))
}

/// The in-process throttle remembers every key it saw; forget settled ones.
pub(super) fn forget_limits(memory: Arc<domain::throttle::MemoryThrottle>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            memory.retain_recent();
        }
    })
}

/// Deletes expired second-factor and WebAuthn challenges, every ten minutes.
pub(super) fn purge_mfa_challenges(
    mfa: Arc<dyn MfaRepository>,
    passkeys: Arc<PasskeyService>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tick.tick().await;
            if let Err(error) = mfa.purge_challenges(time::OffsetDateTime::now_utc()).await {
                tracing::warn!(error = %error, "purging expired MFA challenges failed");
            }
            if let Err(error) = passkeys.purge().await {
                tracing::warn!(error = %error, "purging expired WebAuthn challenges failed");
            }
        }
    })
}

/// Drops the provider's expired authorization requests and codes, every ten
/// minutes.
pub(super) fn purge_provider_state(provider: Arc<dyn ProviderRepository>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tick.tick().await;
            if let Err(error) = provider
                .purge_expired(time::OffsetDateTime::now_utc())
                .await
            {
                tracing::warn!(error = %error, "purging expired authorization requests failed");
            }
        }
    })
}

/// Deletes audit events older than the retention, at start-up and hourly.
pub(super) fn audit_retention(audit: Arc<dyn AuditLog>, retention: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            let before = time::OffsetDateTime::now_utc() - retention;
            match audit.purge(before).await {
                Ok(0) => {}
                Ok(purged) => tracing::info!(purged, "old audit events deleted"),
                Err(error) => tracing::warn!(error = %error, "purging old audit events failed"),
            }
        }
    })
}
