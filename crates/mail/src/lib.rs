//! Mail: templates (plain text and HTML, `minijinja`), transports (SMTP through
//! `lettre`, or `.eml` files for development) and the background sender that
//! drains the outbox.
//!
//! The domain queues an [`domain::mail::OutgoingMail`] in the transaction that makes
//! it necessary; [`Sender`] claims due mails (one instance per mail, by lease),
//! renders and sends them, and marks each sent — or schedules a retry with
//! back-off, giving up after [`SenderSettings::max_attempts`].

mod sender;
mod templates;
mod transport;

pub use sender::{Sender, SenderSettings};
pub use templates::{Rendered, Templates};
pub use transport::{Transport, TransportError};
