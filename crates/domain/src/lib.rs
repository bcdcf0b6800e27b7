//! The heart of codezest-auth: entities, value types that parse on construction,
//! the repository traits every storage or cache layer implements, password hashing
//! (argon2id), access-token issue and verification (JWT) and the auth services.
//!
//! This crate does no I/O of its own and must not depend on an I/O crate (no sqlx,
//! axum, fred, moka or reqwest): storage arrives through the traits in [`repo`],
//! wired together by the `app` crate. Domain types are not `Serialize`; the HTTP
//! layer converts them into its own DTOs.

pub mod auth;
pub mod error;
pub mod ids;
pub mod oauth;
pub mod password;
pub mod refresh;
pub mod repo;
pub mod tokens;
pub mod user;
pub mod validation;

pub use auth::{AuthService, AuthSettings, Authenticated, ClientInfo, Principal, Registration};
pub use error::{AuthError, RepoError};
pub use ids::{SessionId, UserId};
pub use oauth::{
    AuthorizationRequest, Callback, Completed, ExternalIdentity, IdentityProvider, OAuthFailure,
    OAuthService, OAuthSettings, PendingLogin, PendingLoginRepository, ProviderError, Started,
};
pub use password::{Password, PasswordHash, PasswordHasher};
pub use refresh::{RefreshToken, RefreshTokens, TokenHash};
pub use repo::{
    OAuthAccountRepository, ProfileRepository, Readiness, ReadinessProbe, ServiceStatus,
    SessionRepository, UserRepository,
};
pub use tokens::{AccessClaims, JwtAlgorithm, JwtConfig, JwtKeys, PublicJwk, VerifiedTokens};
pub use user::{
    Credentials, DisplayName, Email, NewOAuthAccount, NewSession, NewUser, OAuthAccount, Profile,
    ProfileUpdate, RotateOutcome, Session, User,
};
pub use validation::{FieldError, ValidationErrors};
