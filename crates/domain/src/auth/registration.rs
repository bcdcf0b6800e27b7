//! Sign-up: the parsed input, and the account created with its first session.

use time::OffsetDateTime;

use super::{AuthService, FAILURE, SUCCESS, event};
use crate::amr::Amr;
use crate::audit::{AuditKind, Outcome};
use crate::client_info::ClientInfo;
use crate::error::AuthError;
use crate::ids::UserId;
use crate::password::{NewPassword, Password};
use crate::signin::OpenedSession;
use crate::user::{DisplayName, Email, NewUser};

/// Input of [`AuthService::register`], already parsed.
#[derive(Debug)]
pub struct Registration {
    pub email: Email,
    pub password: NewPassword,
    pub name: DisplayName,
}

impl Registration {
    /// Parses a sign-up's fields, naming every invalid one.
    pub fn parse(
        email: &str,
        password: String,
        name: &str,
    ) -> Result<Self, crate::validation::ValidationErrors> {
        let mut errors = crate::validation::ValidationErrors::new();
        let email = errors.check(Email::parse(email));
        let password = errors.check(Password::parse(password, "password"));
        let name = errors.check(DisplayName::parse(name));
        match (email, password, name) {
            (Some(email), Some(password), Some(name)) => Ok(Self {
                email,
                password,
                name,
            }),
            _ => Err(errors),
        }
    }
}

impl AuthService {
    /// Creates an account and opens its first session.
    #[tracing::instrument(skip_all)]
    pub async fn register(
        &self,
        input: Registration,
        client: &ClientInfo,
    ) -> Result<OpenedSession, AuthError> {
        let related = [input.email.as_str(), input.name.as_str()];
        let password_hash = self.hasher.hash_new(&input.password, &related).await?;
        let now = OffsetDateTime::now_utc();
        let user_id = UserId::new();
        let new_user = NewUser {
            id: user_id,
            email: input.email,
            name: input.name,
            email_verified: false,
            password_hash: Some(password_hash),
        };
        let (new_session, refresh_token) = self.new_session(user_id, Amr::PWD, client, now);
        let (user, session) = self
            .users
            .create_with_session(new_user, new_session)
            .await
            .inspect_err(|_| event("register", FAILURE))?;
        event("register", SUCCESS);
        self.audit
            .record(AuditKind::Register, Outcome::Success, Some(user.id), client)
            .await;
        tracing::info!(user_id = %user.id, session_id = %session.id, "user registered");
        Ok(OpenedSession {
            session,
            refresh_token,
            user,
            profile: None,
        })
    }
}
