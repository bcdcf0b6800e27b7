//! The mail templates, compiled into the binary: `templates/{name}.txt` and
//! `templates/{name}.html` for each [`MailKind`]. HTML output is auto-escaped.

use domain::mail::MailKind;
use minijinja::Environment;

/// A rendered mail.
pub struct Rendered {
    pub subject: &'static str,
    pub text: String,
    pub html: String,
}

macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        [$(
            (concat!($name, ".txt"), include_str!(concat!("../templates/", $name, ".txt"))),
            (concat!($name, ".html"), include_str!(concat!("../templates/", $name, ".html"))),
        )*]
    };
}

pub struct Templates {
    env: Environment<'static>,
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

impl Templates {
    pub fn new() -> Self {
        let mut env = Environment::new();
        for (name, source) in templates!(
            "password_reset",
            "verify_email",
            "confirm_email_change",
            "email_changed",
            "email_change_requested",
            "factor_added"
        ) {
            env.add_template(name, source)
                .expect("the built-in mail templates compile");
        }
        Self { env }
    }

    fn subject(kind: &MailKind) -> &'static str {
        match kind {
            MailKind::PasswordReset { .. } => "Reset your password",
            MailKind::VerifyEmail { .. } => "Verify your email address",
            MailKind::ConfirmEmailChange { .. } => "Confirm your new email address",
            MailKind::EmailChanged { .. } => "Your email address was changed",
            MailKind::EmailChangeRequested { .. } => "A change of your email address was requested",
            MailKind::FactorAdded { .. } => "A sign-in method was added to your account",
        }
    }

    pub fn render(&self, kind: &MailKind) -> Result<Rendered, minijinja::Error> {
        let name = kind.template();
        let context = minijinja::Value::from_serialize(kind);
        let text = self
            .env
            .get_template(&format!("{name}.txt"))?
            .render(&context)?;
        let html = self
            .env
            .get_template(&format!("{name}.html"))?
            .render(&context)?;
        Ok(Rendered {
            subject: Self::subject(kind),
            text,
            html,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_renders_and_html_is_escaped() {
        let templates = Templates::new();
        let kinds = [
            MailKind::PasswordReset {
                name: "<b>Ann</b>".into(),
                link: "https://app/reset-password?token=abc".into(),
            },
            MailKind::VerifyEmail {
                name: "Ann".into(),
                link: "https://app/verify-email?token=abc".into(),
            },
            MailKind::ConfirmEmailChange {
                name: "Ann".into(),
                link: "https://app/verify-email?token=abc".into(),
                new_email: "new@example.com".into(),
            },
            MailKind::EmailChanged {
                name: "Ann".into(),
                new_email: "new@example.com".into(),
            },
            MailKind::EmailChangeRequested {
                name: "Ann".into(),
                new_email: "new@example.com".into(),
            },
            MailKind::FactorAdded {
                name: "Ann".into(),
                factor: "a passkey named “<phone>”".into(),
                link: "https://app/remove-sign-in-method?token=abc".into(),
            },
        ];
        for kind in &kinds {
            let rendered = templates.render(kind).unwrap();
            assert!(rendered.text.contains("Ann"), "{}", rendered.text);
            assert!(rendered.html.contains("Ann"));
            if !matches!(
                kind,
                MailKind::EmailChanged { .. } | MailKind::EmailChangeRequested { .. }
            ) {
                assert!(rendered.text.contains("token=abc"));
                assert!(rendered.html.contains("token=abc"));
            }
        }
        let reset = templates.render(&kinds[0]).unwrap();
        assert!(reset.html.contains("&lt;b&gt;Ann"), "{}", reset.html);
        assert!(reset.text.contains("<b>Ann</b>"));
    }
}
