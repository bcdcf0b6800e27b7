//! The heart of codezest-auth: entities, value types that parse on construction,
//! the ports (every trait through which storage, caches and identity providers
//! are reached), password hashing (argon2id), access-token issue and
//! verification (JWT) and the auth services.
//!
//! This crate does no I/O of its own and must not depend on an I/O crate (no sqlx,
//! axum, fred, moka or reqwest): the world arrives through the traits in
//! [`ports`], wired together by the `app` crate. Domain types are not
//! `Serialize`; the HTTP layer converts them into its own DTOs.
//!
//! Module order (no cycles): `ids`, `validation`, `user`, `password`, `refresh`,
//! `tokens`, `amr` → `error` → `ports` → `auth` → `mfa`, `oauth`, `account`,
//! `passkey`, `roles`, `clients`, `introspection` → `admin`.

pub mod account;
pub mod admin;
pub mod amr;
pub mod auth;
pub mod clients;
pub mod error;
pub mod ids;
pub mod introspection;
pub mod mail;
pub mod mfa;
pub mod oauth;
pub mod passkey;
pub mod password;
pub mod ports;
pub mod refresh;
pub mod roles;
pub mod signin;
pub mod throttle;
pub mod tokens;
pub mod user;
pub mod validation;

pub use account::{AccountService, AccountSettings, MAX_EVENTS};
pub use admin::{Admin, AdminService, MAX_PAGE, UserDetail, UserPage};
pub use amr::{Amr, MfaMethods};
pub use auth::{
    AuthPorts, AuthService, AuthSettings, Authenticated, ClientInfo, Principal, Registration,
};
pub use clients::{ApiClient, ApiClientRepository, ClientName, ClientSecret, ClientService};
pub use error::{AuthError, BoxError, Denial, OAuthFailure, ProviderError, RepoError, Resource};
pub use ids::{ClientId, SessionId, UserId};
pub use introspection::{ActiveToken, TokenKind};
pub use mail::{MailKind, OutgoingMail};
pub use mfa::{Factor, MfaKey, MfaService, MfaSettings, MfaStatus, RecoveryCode, TotpSetup};
pub use oauth::{Callback, Completed, HandOff, OAuthService, OAuthSettings, Started};
pub use passkey::{
    Assertion, Ceremony, CeremonyError, NewCredential, Passkey, PasskeyRepository, PasskeyService,
    PendingCeremony, Purpose, WebAuthn,
};
pub use password::{
    HashError, NewPassword, NewPasswordError, Password, PasswordHash, PasswordHasher,
};
pub use ports::{
    AccountToken, AuditEvent, AuditLog, AuditRecord, EmailConfirmed, FactorRef, FactorRemoved,
    MailOutbox, NewAccountToken, PasswordReset, QueuedMail, RecoveryRepository, TokenPurpose,
};
pub use ports::{
    AuthorizationRequest, DeletedUser, ExternalIdentity, IdentityProvider, MfaChallenge,
    MfaRepository, OAuthAccountRepository, PasswordChanged, PendingLogin, PendingLoginRepository,
    ProfileRepository, RepoResult, SessionRepository, StoredTotp, UserDisabled, UserQuery,
    UserRepository, VerifiedToken, VerifiedTokens,
};
pub use refresh::{MailToken, RefreshToken, RefreshTokens, TokenHash};
pub use roles::ADMIN;
pub use signin::{MfaRequired, OpenedSession, SignIn};
pub use throttle::{Attempt, Decision, LockoutPolicy, MemoryThrottle, Quota, Throttle, client_key};
pub use tokens::{
    AccessClaims, Claimed, JwtAlgorithm, JwtConfig, JwtKeys, KeyError, PublicJwk, TokenError,
};
pub use user::{
    Credentials, DisplayName, Email, MAX_ROLES, NewOAuthAccount, NewSession, NewUser, OAuthAccount,
    Profile, ProfileUpdate, ProviderName, RotateOutcome, Session, User,
};
pub use validation::{FieldError, ValidationErrors};
