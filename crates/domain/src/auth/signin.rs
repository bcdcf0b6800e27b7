//! The steps of a sign-in that every flow shares: opening a session, the
//! second-factor challenge, and issuing API tokens for an opened session.

use time::OffsetDateTime;

use super::{AuthService, Authenticated, ClientInfo};
use crate::amr::{Amr, MfaMethods};
use crate::error::AuthError;
use crate::ids::UserId;
use crate::ports::MfaChallenge;
use crate::refresh::{MailToken, RefreshToken};
use crate::signin::{MfaRequired, OpenedSession, SignIn};
use crate::tokens::Claimed;
use crate::user::{Profile, Session, User};

/// How long an `mfa_token` lives.
const CHALLENGE_TTL: time::Duration = time::Duration::minutes(5);

impl AuthService {
    /// Access and refresh tokens for an opened session: the JSON API's (and
    /// a first-party client's) way of holding one.
    pub fn issue_tokens(&self, opened: OpenedSession) -> Result<Authenticated, AuthError> {
        let OpenedSession {
            session,
            refresh_token,
            user,
            profile,
        } = opened;
        self.tokens_for(
            &session,
            refresh_token,
            user,
            profile,
            OffsetDateTime::now_utc(),
        )
    }

    pub(crate) fn tokens_for(
        &self,
        session: &Session,
        refresh_token: RefreshToken,
        user: User,
        profile: Option<Profile>,
        now: OffsetDateTime,
    ) -> Result<Authenticated, AuthError> {
        let keys = self.access_tokens();
        let access_token = keys.issue(
            session.user_id,
            session.id,
            session.created_at,
            session.amr,
            Claimed {
                roles: &user.roles,
                email_verified: user.email_verified,
                client: None,
            },
            now,
        )?;
        Ok(Authenticated {
            access_token,
            refresh_token,
            expires_in: keys.access_ttl().whole_seconds(),
            user,
            profile,
        })
    }

    /// Opens a new session for a user whose identity was proven (`amr` says
    /// how): the last step of every sign-in.
    pub(crate) async fn open_session(
        &self,
        user_id: UserId,
        amr: Amr,
        client: &ClientInfo,
    ) -> Result<SignIn, AuthError> {
        let now = OffsetDateTime::now_utc();
        let user = self
            .users
            .find_by_id(user_id)
            .await?
            .ok_or(AuthError::InvalidCredentials)?;
        if user.disabled {
            return Err(AuthError::AccountDisabled);
        }
        let (new_session, refresh_token) = self.new_session(user_id, amr, client, now);
        let session = self.sessions.create(new_session).await?;
        let profile = self.profiles.find_by_user(user_id).await?;
        tracing::info!(user_id = %user_id, session_id = %session.id, "session opened");
        Ok(SignIn::Opened(Box::new(OpenedSession {
            session,
            refresh_token,
            user,
            profile,
        })))
    }

    /// The end of a first factor: a session, or — for a user with a second
    /// factor — a challenge.
    pub(crate) async fn sign_in(
        &self,
        user_id: UserId,
        mfa: MfaMethods,
        first: Amr,
        client: &ClientInfo,
    ) -> Result<SignIn, AuthError> {
        match self.second_factor_if_any(user_id, mfa, first).await? {
            Some(required) => Ok(SignIn::SecondFactor(required)),
            None => self.open_session(user_id, first, client).await,
        }
    }

    /// For a user with a second factor: stores a challenge and answers what
    /// completing it needs; `None` when the first factor is all there is.
    pub(crate) async fn second_factor_if_any(
        &self,
        user_id: UserId,
        mfa: MfaMethods,
        first: Amr,
    ) -> Result<Option<MfaRequired>, AuthError> {
        if !mfa.any() {
            return Ok(None);
        }
        let methods = MfaMethods {
            webauthn: mfa.webauthn && self.passkeys_enabled,
            ..mfa
        };
        let mfa_token = MailToken::random();
        let challenge = MfaChallenge {
            user_id,
            amr: first,
        };
        let expires_at = OffsetDateTime::now_utc() + CHALLENGE_TTL;
        self.mfa
            .create_challenge(&mfa_token.hash(), &challenge, expires_at)
            .await?;
        tracing::info!(user_id = %user_id, "second factor required");
        Ok(Some(MfaRequired { mfa_token, methods }))
    }

    /// The second factors of a user a provider signed in (refused when the
    /// account is disabled).
    pub(crate) async fn federated_factors(&self, user_id: UserId) -> Result<MfaMethods, AuthError> {
        let credentials = self.users.credentials_by_id(user_id).await?;
        if credentials.as_ref().is_some_and(|c| c.disabled) {
            return Err(AuthError::AccountDisabled);
        }
        Ok(credentials.map(|c| c.mfa).unwrap_or_default())
    }

    /// [`AuthService::sign_in`] for an identity proven by a provider.
    pub(crate) async fn sign_in_federated(
        &self,
        user_id: UserId,
        client: &ClientInfo,
    ) -> Result<SignIn, AuthError> {
        let mfa = self.federated_factors(user_id).await?;
        self.sign_in(user_id, mfa, Amr::FED, client).await
    }
}
