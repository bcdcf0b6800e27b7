//! The background sender: claims due mails from the outbox, sends them, marks
//! each sent or schedules its retry.
//!
//! Exactly-once in normal operation: a mail is claimed by one sender for a lease
//! (`FOR UPDATE SKIP LOCKED`), and marked sent right after the SMTP server
//! accepted it. A sender that dies after claiming lets the lease run out and
//! another sends the mail; only a death between the server's acceptance and the
//! mark (milliseconds) can send it twice.

use std::sync::Arc;
use std::time::Duration;

use domain::{ports::MailOutbox, ports::QueuedMail, ports::Retry};
use futures::StreamExt as _;
use lettre::Message;
use lettre::message::{Mailbox, MultiPart};
use time::OffsetDateTime;
use tokio::sync::Notify;

use crate::templates::Templates;
use crate::transport::Transport;

#[derive(Debug, Clone)]
pub struct SenderSettings {
    /// The `From` of every mail (`MAIL_FROM`).
    pub from: Mailbox,
    /// How often the outbox is polled when nothing woke the sender.
    pub poll: Duration,
    /// How long a claimed mail is reserved for this sender.
    pub lease: Duration,
    /// Mails claimed at once.
    pub batch: i64,
    /// Mails sent concurrently.
    pub concurrency: usize,
    /// Attempts before a mail is given up on.
    pub max_attempts: i32,
    /// The first retry's delay; doubled on each attempt, at most an hour.
    pub backoff: Duration,
}

impl SenderSettings {
    fn retry(&self) -> Retry {
        Retry {
            first: self.backoff,
            cap: Duration::from_secs(3600),
            max_attempts: self.max_attempts,
        }
    }

    pub fn new(from: Mailbox) -> Self {
        Self {
            from,
            poll: Duration::from_secs(1),
            lease: Duration::from_secs(60),
            batch: 50,
            concurrency: 8,
            max_attempts: 8,
            backoff: Duration::from_secs(5),
        }
    }
}

pub struct Sender {
    outbox: Arc<dyn MailOutbox>,
    transport: Transport,
    templates: Templates,
    settings: SenderSettings,
    wake: Arc<Notify>,
}

impl Sender {
    pub fn new(
        outbox: Arc<dyn MailOutbox>,
        transport: Transport,
        settings: SenderSettings,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            outbox,
            transport,
            templates: Templates::new(),
            settings,
            wake,
        }
    }

    /// Drains the outbox until the task is aborted.
    pub async fn run(self) {
        loop {
            let drained = self.drain().await;
            if let Ok(pending) = self.outbox.pending().await {
                metrics::gauge!("mail_outbox_pending").set(pending as f64);
            }
            if drained {
                // A full batch: there may be more right away.
                continue;
            }
            tokio::select! {
                () = self.wake.notified() => {},
                () = tokio::time::sleep(self.settings.poll) => {},
            }
        }
    }

    /// Sends one batch; `true` when it was full.
    pub async fn drain(&self) -> bool {
        let claimed = match self
            .outbox
            .claim(self.settings.batch, self.settings.lease)
            .await
        {
            Ok(claimed) => claimed,
            Err(error) => {
                tracing::warn!(error = %error, "the mail outbox cannot be read");
                return false;
            }
        };
        let full = claimed.len() as i64 == self.settings.batch;
        futures::stream::iter(claimed)
            .for_each_concurrent(self.settings.concurrency, |queued| self.deliver(queued))
            .await;
        full
    }

    async fn deliver(&self, queued: QueuedMail) {
        let template = queued.mail.kind.template();
        let outcome = match self.send(&queued).await {
            Ok(()) => {
                if let Err(error) = self.outbox.sent(queued.id).await {
                    // Sent, but not marked: the lease expires and it may go
                    // again. Say so loudly.
                    tracing::error!(error = %error, id = queued.id, "a sent mail could not be marked sent");
                }
                tracing::info!(id = queued.id, template, "mail sent");
                "sent"
            }
            Err(error) => {
                let attempts = queued.attempts + 1;
                let retry_at = self
                    .settings
                    .retry()
                    .after(attempts, OffsetDateTime::now_utc());
                tracing::warn!(error = %error, id = queued.id, template, attempts, gave_up = retry_at.is_none(), "sending a mail failed");
                if let Err(error) = self.outbox.failed(queued.id, &error, retry_at).await {
                    tracing::error!(error = %error, id = queued.id, "a failed mail could not be rescheduled");
                }
                if retry_at.is_some() {
                    "retry"
                } else {
                    "failed"
                }
            }
        };
        metrics::counter!("mail_sent_total", "outcome" => outcome).increment(1);
    }

    /// Renders and sends one mail; the error is a message safe to store.
    async fn send(&self, queued: &QueuedMail) -> Result<(), String> {
        let rendered = self
            .templates
            .render(&queued.mail.kind)
            .map_err(|e| format!("rendering failed: {e}"))?;
        let to: Mailbox = queued
            .mail
            .to
            .as_str()
            .parse()
            .map_err(|e| format!("bad recipient: {e}"))?;
        let message = Message::builder()
            .from(self.settings.from.clone())
            .to(to)
            .subject(rendered.subject)
            .multipart(MultiPart::alternative_plain_html(
                rendered.text,
                rendered.html,
            ))
            .map_err(|e| format!("building the message failed: {e}"))?;
        self.transport
            .send(message)
            .await
            .map_err(|e| e.to_string())
    }
}
