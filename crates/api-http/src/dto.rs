//! Between the domain and the contract (`api_types`). Domain types are not
//! `Serialize`: they are shown here, at the edge, as the contract's types, and
//! request bodies are parsed into the domain's value types.

use std::borrow::Cow;

use api_types::{
    AcceptedResponse, AuditEventDto, Jwk, ProfileDto, RegisterRequest, SessionDto, TokenResponse,
    UpdateProfileRequest, UserDto, UserResponse,
};
use domain::{
    ProfileUpdate, SessionId, ValidationErrors, auth::Authenticated, auth::Registration,
    ports::AuditRecord, tokens::JwkKey, tokens::PublicJwk, user::Profile, user::Session,
    user::User,
};

/// A domain value as the API shows it.
pub(crate) trait ToDto {
    type Dto;
    fn to_dto(self) -> Self::Dto;
}

/// A request body read into the domain's value types; every invalid field
/// is named.
pub(crate) trait ParseBody<T> {
    fn parse(self) -> Result<T, ValidationErrors>;
}

impl ParseBody<Registration> for RegisterRequest {
    fn parse(self) -> Result<Registration, ValidationErrors> {
        Registration::parse(&self.email, self.password, &self.name)
    }
}

impl ParseBody<ProfileUpdate> for UpdateProfileRequest {
    fn parse(self) -> Result<ProfileUpdate, ValidationErrors> {
        ProfileUpdate::parse(self.bio, self.avatar_url, self.location, self.website)
    }
}

pub(crate) fn user_dto(user: User, profile: Option<Profile>) -> UserDto {
    UserDto {
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

impl ToDto for (User, Option<Profile>) {
    type Dto = UserResponse;
    fn to_dto(self) -> UserResponse {
        UserResponse {
            user: user_dto(self.0, self.1),
        }
    }
}

impl ToDto for Authenticated {
    type Dto = TokenResponse;
    fn to_dto(self) -> TokenResponse {
        TokenResponse {
            access_token: self.access_token,
            refresh_token: self.refresh_token.expose().to_owned(),
            token_type: Cow::Borrowed("Bearer"),
            expires_in: self.expires_in,
            user: user_dto(self.user, self.profile),
        }
    }
}

/// `current`: the session of the token making the request, if it is this
/// user's (the admin API lists someone else's: `None`).
pub(crate) fn session_dto(session: Session, current: Option<SessionId>) -> SessionDto {
    SessionDto {
        id: session.id.as_uuid(),
        created_at: session.created_at,
        last_used_at: session.last_used_at,
        expires_at: session.expires_at,
        user_agent: session.user_agent,
        ip: session.ip.map(|ip| ip.to_string()),
        current: Some(session.id) == current,
    }
}

impl ToDto for &PublicJwk {
    type Dto = Jwk;
    fn to_dto(self) -> Jwk {
        let mut out = Jwk {
            kty: Cow::Borrowed(self.key.kty()),
            crv: None,
            alg: Cow::Borrowed(self.algorithm.as_str()),
            key_use: Cow::Borrowed("sig"),
            kid: self.kid.clone(),
            x: None,
            y: None,
            n: None,
            e: None,
        };
        match &self.key {
            JwkKey::Okp { crv, x } => {
                (out.crv, out.x) = (Some(Cow::Borrowed(*crv)), Some(x.clone()));
            }
            JwkKey::Ec { crv, x, y } => {
                out.crv = Some(Cow::Borrowed(*crv));
                (out.x, out.y) = (Some(x.clone()), Some(y.clone()));
            }
            JwkKey::Rsa { n, e } => (out.n, out.e) = (Some(n.clone()), Some(e.clone())),
        }
        out
    }
}

/// The answer to a request whose effect is a mail.
pub(crate) fn accepted() -> AcceptedResponse {
    AcceptedResponse {
        status: Cow::Borrowed("accepted"),
    }
}

impl ToDto for AuditRecord {
    type Dto = AuditEventDto;
    fn to_dto(self) -> AuditEventDto {
        AuditEventDto {
            id: self.id,
            event: self.event,
            outcome: self.outcome,
            ip: self.ip.map(|ip| ip.to_string()),
            user_agent: self.user_agent,
            created_at: self.created_at,
        }
    }
}
