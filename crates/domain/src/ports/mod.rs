//! The ports: every trait through which the domain reaches the world, and the
//! data (and errors) that cross them, one file per area. Storage
//! (`UserRepository`, `SessionRepository`, `ProfileRepository`,
//! `OAuthAccountRepository`, `PendingLoginRepository`, `RecoveryRepository`,
//! `MailOutbox`, `AuditLog`, `MfaRepository`, `PasskeyRepository`,
//! `ApiClientRepository`, `ProviderRepository`) is implemented by `repo-postgres` and, where cached,
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
