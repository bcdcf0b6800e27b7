//! What a sign-in step produced, as data: a session opened, or a second
//! factor to present (room for consent later). The password, provider and
//! passkey flows all answer a [`SignIn`]; each front door turns an opened
//! session into what it hands out — the JSON API into tokens
//! (`AuthService::issue_tokens`), the pages into a cookie, the provider into
//! a code. Nothing here is an error: a second factor is the next step, not a
//! refusal. (The steps themselves are `AuthService`'s, in `auth/signin.rs`.)

use crate::amr::MfaMethods;
use crate::audit::Outcome;
use crate::error::AuthError;
use crate::refresh::{MailToken, RefreshToken};
use crate::user::{Profile, Session, User};

/// A session a sign-in opened, before any token for it exists.
#[derive(Debug)]
pub struct OpenedSession {
    pub session: Session,
    /// Names the session for rotation; the API hands it out, the pages keep
    /// it server-side.
    pub refresh_token: RefreshToken,
    pub user: User,
    pub profile: Option<Profile>,
}

/// What a client needs to complete a sign-in with a second factor. The token
/// is a secret: it is shown to the client once and never logged.
#[derive(Debug)]
pub struct MfaRequired {
    pub mfa_token: MailToken,
    pub methods: MfaMethods,
}

/// The next step of a sign-in.
#[derive(Debug)]
pub enum SignIn {
    /// Signed in: a session is open.
    Opened(Box<OpenedSession>),
    /// The first factor passed and the account has a second one: complete
    /// with `mfa_token` (the API's `/auth/mfa/verify`).
    SecondFactor(MfaRequired),
}

impl SignIn {
    /// The outcome as metrics and the audit trail name it.
    pub fn outcome_of(result: &Result<Self, AuthError>) -> Outcome {
        match result {
            Ok(Self::Opened(_)) => Outcome::Success,
            Ok(Self::SecondFactor(_)) => Outcome::MfaRequired,
            Err(_) => Outcome::Failure,
        }
    }
}
