//! Mail the service sends: which message, to whom, with what in it. Rendering
//! (templates) and delivery (SMTP, files) live in the `mail` crate; the outbox
//! stores an [`OutgoingMail`] as JSON between the two.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::user::{Email, User};

/// A message and what its template needs. Links carry a token: never logged
/// (see the `Debug` implementation), erased from the outbox once sent.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "template", rename_all = "snake_case")]
pub enum MailKind {
    /// `{APP_URL}/reset-password?token=…`
    PasswordReset { name: String, link: String },
    /// `{APP_URL}/verify-email?token=…`
    VerifyEmail { name: String, link: String },
    /// Sent to the new address of an email change: `{APP_URL}/verify-email?token=…`
    ConfirmEmailChange {
        name: String,
        link: String,
        new_email: String,
    },
    /// Sent to the previous address once a change took effect.
    EmailChanged { name: String, new_email: String },
    /// Sent to the current address when a change to another was requested
    /// (the change itself waits for the new address's link).
    EmailChangeRequested { name: String, new_email: String },
    /// Sent when a sign-in method was added, with a link that removes it:
    /// `{APP_URL}/remove-sign-in-method?token=…`
    FactorAdded {
        name: String,
        /// What was added, in words ("an authenticator app (TOTP)", "a passkey named …").
        factor: String,
        link: String,
    },
}

impl MailKind {
    /// The template's name.
    pub fn template(&self) -> &'static str {
        match self {
            Self::PasswordReset { .. } => "password_reset",
            Self::VerifyEmail { .. } => "verify_email",
            Self::ConfirmEmailChange { .. } => "confirm_email_change",
            Self::EmailChanged { .. } => "email_changed",
            Self::EmailChangeRequested { .. } => "email_change_requested",
            Self::FactorAdded { .. } => "factor_added",
        }
    }
}

impl fmt::Debug for MailKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MailKind({})", self.template())
    }
}

/// A mail to send.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingMail {
    pub to: Email,
    pub kind: MailKind,
}

impl OutgoingMail {
    /// The notice a user's previous address gets when an email change took effect.
    pub fn email_changed(user: &User, previous: &Email) -> Self {
        Self {
            to: previous.clone(),
            kind: MailKind::EmailChanged {
                name: user.name.clone(),
                new_email: user.email.as_str().to_owned(),
            },
        }
    }
}

impl fmt::Debug for OutgoingMail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutgoingMail")
            .field("template", &self.kind.template())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_link() {
        let mail = OutgoingMail {
            to: Email::parse("a@example.com").unwrap(),
            kind: MailKind::PasswordReset {
                name: "A".into(),
                link: "https://app/reset-password?token=SECRET".into(),
            },
        };
        let printed = format!("{mail:?} {:?}", mail.kind);
        assert!(!printed.contains("SECRET"), "{printed}");
        assert!(!printed.contains("a@example.com"), "{printed}");
        let json = serde_json::to_value(&mail).unwrap();
        assert_eq!(json["kind"]["template"], "password_reset");
        assert_eq!(serde_json::from_value::<OutgoingMail>(json).unwrap(), mail);
    }
}
