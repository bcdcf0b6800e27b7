//! The JSON shapes of the HTTP contract. Domain types are not `Serialize`: they are
//! converted here, at the edge, and requests are parsed into domain value types.

use domain::{
    DisplayName, Email, Password, ProfileUpdate, SessionId, ValidationErrors, auth::Authenticated,
    auth::Registration, ports::AuditRecord, user::Profile, user::Session, user::User,
};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Deserialize, ToSchema)]
pub struct RegisterRequest {
    #[schema(example = "ada@example.com", format = Email, max_length = 254)]
    pub email: String,
    /// 8–128 characters; any Unicode; not a common or easily guessed password
    /// (`password_too_common`).
    #[schema(example = "correct horse battery staple", format = Password, min_length = 8, max_length = 128)]
    pub password: String,
    /// 1–100 characters once trimmed; something besides white space; no control
    /// characters (Unicode Cc, as the pattern says).
    #[schema(
        example = "Ada Lovelace",
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub name: String,
}

impl TryFrom<RegisterRequest> for Registration {
    type Error = ValidationErrors;
    fn try_from(body: RegisterRequest) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let email = errors.check(Email::parse(&body.email));
        let password = errors.check(Password::parse(body.password, "password"));
        let name = errors.check(DisplayName::parse(&body.name));
        match (email, password, name) {
            (Some(email), Some(password), Some(name)) => Ok(Registration {
                email,
                password,
                name,
            }),
            _ => Err(errors),
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    #[schema(example = "ada@example.com")]
    pub email: String,
    #[schema(example = "correct horse battery staple", format = Password)]
    pub password: String,
}

#[derive(Deserialize, ToSchema)]
pub struct RefreshRequest {
    /// The refresh token from the last token response. Spent by this call.
    pub refresh_token: String,
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateUserRequest {
    /// The new display name; absent leaves it unchanged.
    #[schema(
        example = "Ada King",
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub name: Option<String>,
}

/// A full replacement of the profile: an absent or blank field is cleared.
#[derive(Deserialize, ToSchema)]
pub struct UpdateProfileRequest {
    #[schema(example = "Analyst of engines", max_length = 1000)]
    pub bio: Option<String>,
    #[schema(example = "https://cdn.example.com/ada.png", max_length = 2048)]
    pub avatar_url: Option<String>,
    #[schema(example = "London", max_length = 100)]
    pub location: Option<String>,
    #[schema(example = "https://ada.example.com", max_length = 2048)]
    pub website: Option<String>,
}

impl TryFrom<UpdateProfileRequest> for ProfileUpdate {
    type Error = ValidationErrors;
    fn try_from(body: UpdateProfileRequest) -> Result<Self, ValidationErrors> {
        ProfileUpdate::parse(body.bio, body.avatar_url, body.location, body.website)
    }
}

#[derive(Deserialize, ToSchema)]
pub struct ChangePasswordRequest {
    #[schema(example = "correct horse battery staple", format = Password)]
    pub current_password: String,
    /// 8–128 characters; any Unicode; not a common or easily guessed password
    /// (`password_too_common`).
    #[schema(example = "a different passphrase", format = Password, min_length = 8, max_length = 128)]
    pub new_password: String,
}

#[derive(Serialize, ToSchema)]
#[cfg_attr(feature = "client", derive(Deserialize, Debug))]
pub struct ProfileDto {
    pub bio: Option<String>,
    pub avatar_url: Option<String>,
    pub location: Option<String>,
    pub website: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[cfg_attr(feature = "client", derive(Deserialize, Debug))]
pub struct UserDto {
    pub id: Uuid,
    #[schema(example = "ada@example.com")]
    pub email: String,
    #[schema(example = "Ada Lovelace")]
    pub name: String,
    pub email_verified: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
    /// `null` until the profile is first set.
    pub profile: Option<ProfileDto>,
}

impl UserDto {
    pub fn new(user: User, profile: Option<Profile>) -> Self {
        Self {
            id: user.id.as_uuid(),
            email: user.email.as_str().to_owned(),
            name: user.name,
            email_verified: user.email_verified,
            created_at: user.created_at,
            updated_at: user.updated_at,
            profile: profile.map(|p| ProfileDto {
                bio: p.bio,
                avatar_url: p.avatar_url,
                location: p.location,
                website: p.website,
            }),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[cfg_attr(feature = "client", derive(Deserialize, Debug))]
pub struct UserResponse {
    pub user: UserDto,
}

impl From<(User, Option<Profile>)> for UserResponse {
    fn from((user, profile): (User, Option<Profile>)) -> Self {
        Self {
            user: UserDto::new(user, profile),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[cfg_attr(feature = "client", derive(Deserialize, Debug))]
pub struct TokenResponse {
    /// A JWT (`typ: at+jwt`) for the `Authorization: Bearer` header.
    pub access_token: String,
    /// Single use: exchange it at `/api/v1/auth/refresh` for a new pair.
    pub refresh_token: String,
    #[schema(value_type = String, example = "Bearer")]
    pub token_type: Cow<'static, str>,
    /// Seconds until the access token expires.
    #[schema(example = 900)]
    pub expires_in: i64,
    pub user: UserDto,
}

impl From<Authenticated> for TokenResponse {
    fn from(auth: Authenticated) -> Self {
        Self {
            access_token: auth.access_token,
            refresh_token: auth.refresh_token.expose().to_owned(),
            token_type: Cow::Borrowed("Bearer"),
            expires_in: auth.expires_in,
            user: UserDto::new(auth.user, auth.profile),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[cfg_attr(feature = "client", derive(Deserialize, Debug))]
pub struct SessionDto {
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub last_used_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: OffsetDateTime,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// Whether this is the session of the token making the request.
    pub current: bool,
}

impl SessionDto {
    /// `current`: the session of the token making the request, if it is
    /// this user's (the admin API lists someone else's: `None`).
    pub fn new(session: Session, current: Option<SessionId>) -> Self {
        Self {
            id: session.id.as_uuid(),
            created_at: session.created_at,
            last_used_at: session.last_used_at,
            expires_at: session.expires_at,
            user_agent: session.user_agent,
            ip: session.ip.map(|ip| ip.to_string()),
            current: Some(session.id) == current,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct HealthResponse {
    #[schema(example = "ok")]
    pub status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct ReadinessResponse {
    /// `ready`, `degraded` (Redis down, still serving) or `unavailable`.
    #[schema(example = "ready")]
    pub status: &'static str,
    /// `up` or `down`.
    #[schema(example = "up")]
    pub postgres: &'static str,
    /// `up`, `degraded` or `disabled`.
    #[schema(example = "disabled")]
    pub redis: &'static str,
}

/// A public key (RFC 7517): `OKP` (Ed25519: `crv`, `x`), `EC` (P-256: `crv`,
/// `x`, `y`) or `RSA` (`n`, `e`).
#[derive(Serialize, ToSchema)]
pub struct Jwk {
    #[schema(example = "OKP")]
    pub kty: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "Ed25519")]
    pub crv: Option<&'static str>,
    #[schema(example = "EdDSA")]
    pub alg: &'static str,
    #[serde(rename = "use")]
    #[schema(example = "sig")]
    pub key_use: &'static str,
    pub kid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// The RSA modulus (base64url).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// The RSA public exponent (base64url).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
}

impl From<&domain::tokens::PublicJwk> for Jwk {
    fn from(jwk: &domain::tokens::PublicJwk) -> Self {
        use domain::tokens::JwkKey;
        let mut out = Self {
            kty: jwk.key.kty(),
            crv: None,
            alg: jwk.algorithm.as_str(),
            key_use: "sig",
            kid: jwk.kid.clone(),
            x: None,
            y: None,
            n: None,
            e: None,
        };
        match &jwk.key {
            JwkKey::Okp { crv, x } => (out.crv, out.x) = (Some(*crv), Some(x.clone())),
            JwkKey::Ec { crv, x, y } => {
                (out.crv, out.x, out.y) = (Some(*crv), Some(x.clone()), Some(y.clone()));
            }
            JwkKey::Rsa { n, e } => (out.n, out.e) = (Some(n.clone()), Some(e.clone())),
        }
        out
    }
}

#[derive(Serialize, ToSchema)]
pub struct JwksResponse {
    pub keys: Vec<Jwk>,
}

#[derive(Deserialize, ToSchema)]
pub struct ForgotPasswordRequest {
    #[schema(example = "ada@example.com", format = Email, max_length = 254)]
    pub email: String,
}

#[derive(Deserialize, ToSchema)]
pub struct ResetPasswordRequest {
    /// The token from the reset link (`…/reset-password?token=…`).
    pub token: String,
    /// 8–128 characters; any Unicode; not a common or easily guessed password
    /// (`password_too_common`); not the current password.
    #[schema(example = "a different passphrase", format = Password, min_length = 8, max_length = 128)]
    pub new_password: String,
}

#[derive(Deserialize, ToSchema)]
pub struct VerifyEmailRequest {
    /// The token from the verification link (`…/verify-email?token=…`).
    pub token: String,
}

#[derive(Deserialize, ToSchema)]
pub struct ChangeEmailRequest {
    #[schema(example = "ada.king@example.com", format = Email, max_length = 254)]
    pub new_email: String,
    /// The current password.
    #[schema(example = "correct horse battery staple", format = Password)]
    pub password: String,
}

#[derive(Deserialize, ToSchema)]
pub struct DeleteAccountRequest {
    /// The current password.
    #[schema(example = "correct horse battery staple", format = Password)]
    pub password: String,
}

/// The answer to a request whose effect is a mail.
#[derive(Serialize, ToSchema)]
#[cfg_attr(feature = "client", derive(Deserialize, Debug))]
pub struct AcceptedResponse {
    #[schema(value_type = String, example = "accepted")]
    pub status: Cow<'static, str>,
}

impl AcceptedResponse {
    pub fn accepted() -> Self {
        Self {
            status: Cow::Borrowed("accepted"),
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// How many events, newest first (1–100; default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

/// One entry of the user's audit trail.
#[derive(Serialize, ToSchema)]
#[cfg_attr(feature = "client", derive(Deserialize, Debug))]
pub struct AuditEventDto {
    pub id: Uuid,
    /// `register`, `login`, `logout`, `password_reset`, `email_verified`, …
    #[schema(example = "login")]
    pub event: String,
    /// `success`, `failure`, `detected`.
    #[schema(example = "success")]
    pub outcome: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

impl From<AuditRecord> for AuditEventDto {
    fn from(record: AuditRecord) -> Self {
        Self {
            id: record.id,
            event: record.event,
            outcome: record.outcome,
            ip: record.ip.map(|ip| ip.to_string()),
            user_agent: record.user_agent,
            created_at: record.created_at,
        }
    }
}
