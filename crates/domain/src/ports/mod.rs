//! The ports: every trait through which the domain reaches the world, and the
//! data (and errors) that cross them, one file per area. Storage
//! (`UserRepository`, `SessionRepository`, `ProfileRepository`,
//! `OAuthAccountRepository`, `PendingLoginRepository`, `RecoveryRepository`,
//! `MailOutbox`, `AuditLog`, `MfaRepository`, `PasskeyRepository`,
//! `ApiClientRepository`, `ProviderRepository`, `LogoutOutbox`) is implemented by `repo-postgres` and, where cached,
//! wrapped again by `cache-redis`; identity providers (`IdentityProvider`) by
//! `federation`; the WebAuthn ceremonies (`WebAuthn`) by `passkeys`; the
//! verified-token cache (`VerifiedTokens`) and the shared `Throttle` by
//! `cache-redis`. `app` wires them. This module names nothing above it: no
//! service, no `AuthError`.
//!
//! Every storage method that changes data returns what a cache needs to
//! invalidate (the affected ids and emails), so a decorator never has to read
//! before it writes.

mod audit;
mod clients;
mod error;
mod federation;
mod mfa;
mod passkeys;
mod provider;
mod recovery;
mod sessions;
mod throttle;
mod users;

pub use audit::*;
pub use clients::*;
pub use error::*;
pub use federation::*;
pub use mfa::*;
pub use passkeys::*;
pub use provider::*;
pub use recovery::*;
pub use sessions::*;
pub use throttle::*;
pub use users::*;

pub type RepoResult<T> = Result<T, RepoError>;

/// When an outbox's failed delivery is tried again: `first` after the first
/// failure, doubled each time up to `cap`, never after `max_attempts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    pub first: std::time::Duration,
    pub cap: std::time::Duration,
    pub max_attempts: i32,
}

impl Retry {
    /// The next attempt after `attempts` failed ones, or `None`: give up.
    pub fn after(&self, attempts: i32, now: time::OffsetDateTime) -> Option<time::OffsetDateTime> {
        if attempts >= self.max_attempts {
            return None;
        }
        let factor = 2_u32.saturating_pow(attempts.clamp(1, 31) as u32 - 1);
        let delay = self.first.saturating_mul(factor).min(self.cap);
        Some(now + time::Duration::try_from(delay).unwrap_or(time::Duration::HOUR))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn retries_back_off_up_to_the_cap_and_give_up() {
        let retry = Retry {
            first: Duration::from_secs(5),
            cap: Duration::from_secs(60),
            max_attempts: 6,
        };
        let now = time::OffsetDateTime::UNIX_EPOCH;
        let delays: Vec<_> = (1..=6)
            .map(|n| retry.after(n, now).map(|at| (at - now).whole_seconds()))
            .collect();
        assert_eq!(
            delays,
            [Some(5), Some(10), Some(20), Some(40), Some(60), None]
        );
    }
}
