//! Back-channel logout (OpenID Connect Back-Channel Logout 1.0): the sender
//! that claims queued logouts from the outbox, signs a logout token for each
//! and POSTs it to the client's `backchannel_logout_uri`.
//!
//! At least once: a logout is queued by the storage in the transaction that
//! ends the session (whatever ends it), claimed by one sender for a lease
//! (`FOR UPDATE SKIP LOCKED`) and forgotten only after the relying party
//! answered 2xx; a failure is retried with back-off, a sender that dies lets
//! its lease run out and another instance's sender takes it. Each attempt signs
//! a fresh token (new `jti`, `iat`), so a late retry is never stale.

use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::ports::{LogoutOutbox, QueuedLogout, Retry};
use domain::tokens::{IdTokens, LogoutSubject};
use futures::StreamExt as _;
use time::OffsetDateTime;
use tokio::task::JoinHandle;

/// How the sender paces itself.
#[derive(Debug, Clone)]
struct Settings {
    /// The longest wait for a notification before looking anyway.
    poll: Duration,
    /// How long a claimed logout is reserved for this sender.
    lease: Duration,
    batch: i64,
    concurrency: usize,
    /// One relying party's answer, at most.
    timeout: Duration,
    retry: Retry,
    /// How often sessions that expired unrevoked are ended (and so told).
    sweep: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            poll: Duration::from_secs(1),
            lease: Duration::from_secs(30),
            batch: 32,
            concurrency: 8,
            timeout: Duration::from_secs(5),
            // 1 s, 2 s, 4 s … 10 min: about 1 h 20 min before giving up.
            retry: Retry {
                first: Duration::from_secs(1),
                cap: Duration::from_secs(600),
                max_attempts: 16,
            },
            sweep: Duration::from_secs(30),
        }
    }
}

struct Sender {
    outbox: Arc<dyn LogoutOutbox>,
    /// Shared with the blocking threads that sign (RSA-2048: milliseconds of
    /// CPU a token, kept off the request-serving workers and spread over cores).
    tokens: Arc<IdTokens>,
    http: reqwest::Client,
    settings: Settings,
}

/// Starts the sender.
pub(super) fn spawn(
    outbox: Arc<dyn LogoutOutbox>,
    tokens: IdTokens,
) -> anyhow::Result<JoinHandle<()>> {
    let settings = Settings::default();
    let http = reqwest::Client::builder()
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout)
        // A logout URI that redirects is a failure, not an invitation.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("codezest-auth/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let sender = Sender {
        outbox,
        tokens: Arc::new(tokens),
        http,
        settings,
    };
    Ok(tokio::spawn(sender.run()))
}

impl Sender {
    async fn run(self) {
        let mut swept: Option<Instant> = None;
        loop {
            if swept.is_none_or(|at| at.elapsed() >= self.settings.sweep) {
                match self.outbox.end_expired(OffsetDateTime::now_utc()).await {
                    Ok(0) => {}
                    Ok(ended) => tracing::info!(ended, "expired application sessions ended"),
                    Err(error) => {
                        tracing::warn!(error = %error, "expired sessions cannot be swept")
                    }
                }
                swept = Some(Instant::now());
            }
            let full = self.drain().await;
            if let Ok(pending) = self.outbox.pending().await {
                metrics::gauge!("backchannel_logout_pending").set(pending as f64);
            }
            if !full {
                self.outbox.wait(self.settings.poll).await;
            }
        }
    }

    /// Sends one batch; `true` when it was full.
    async fn drain(&self) -> bool {
        let claimed = match self
            .outbox
            .claim(self.settings.batch, self.settings.lease)
            .await
        {
            Ok(claimed) => claimed,
            Err(error) => {
                tracing::warn!(error = %error, "the logout outbox cannot be read");
                return false;
            }
        };
        let full = claimed.len() as i64 == self.settings.batch;
        futures::stream::iter(claimed)
            .for_each_concurrent(self.settings.concurrency, |queued| self.deliver(queued))
            .await;
        full
    }

    async fn deliver(&self, queued: QueuedLogout) {
        let outcome = match self.send(&queued).await {
            Ok(()) => {
                if let Err(error) = self.outbox.delivered(queued.id).await {
                    tracing::error!(error = %error, id = queued.id, "a delivered logout could not be forgotten");
                }
                tracing::info!(id = queued.id, client = %queued.client_id, "back-channel logout delivered");
                "delivered"
            }
            Err(error) => {
                let attempts = queued.attempts + 1;
                let retry_at = self
                    .settings
                    .retry
                    .after(attempts, OffsetDateTime::now_utc());
                tracing::warn!(
                    error = %error, id = queued.id, client = %queued.client_id, attempts,
                    gave_up = retry_at.is_none(), "back-channel logout failed"
                );
                if let Err(error) = self.outbox.failed(queued.id, &error, retry_at).await {
                    tracing::error!(error = %error, id = queued.id, "a failed logout could not be rescheduled");
                }
                if retry_at.is_some() {
                    "retry"
                } else {
                    "failed"
                }
            }
        };
        metrics::counter!("backchannel_logout_total", "outcome" => outcome).increment(1);
    }

    /// Signs and POSTs one logout token; the error is a message safe to
    /// store (never the token).
    async fn send(&self, queued: &QueuedLogout) -> Result<(), String> {
        let subject = LogoutSubject {
            client: queued.client_id,
            user: queued.user_id,
            session: queued.sid,
        };
        let (tokens, algorithm) = (Arc::clone(&self.tokens), queued.algorithm);
        let token = tokio::task::spawn_blocking(move || {
            tokens.logout_token(algorithm, subject, OffsetDateTime::now_utc())
        })
        .await
        .map_err(|e| format!("signing failed: {e}"))?
        .map_err(|e| format!("signing failed: {e}"))?;
        let response = self
            .http
            .post(&queued.uri)
            .form(&[("logout_token", token.as_str())])
            .send()
            .await
            .map_err(|e| format!("{}", e.without_url()))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("the relying party answered {status}"))
        }
    }
}
