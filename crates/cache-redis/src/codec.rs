//! What a cached value looks like in Redis: one tag byte, then JSON for values.
//!
//! - `v{json}` — a value;
//! - `n` — the row does not exist (negative entry);
//! - `l{token}` — a reader's lease on a missing key (see [`crate::l2`]).
//!
//! The JSON shapes below are this crate's own, so the domain stays free of
//! serde derives; they carry no password hash, token or provider secret because
//! the domain types they mirror carry none.

use std::net::IpAddr;

use domain::oidc::{ClientSettings, IdTokenAlgorithm, RegisteredUri, Scope, Scopes, UriPolicy};
use domain::{
    ClientId, ClientName, Email, ProviderName, SessionId, TokenHash, UserId, ports::ApiClient,
    user::ClientSession, user::OAuthAccount, user::Profile, user::Session, user::User,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub(crate) const VALUE_TAG: u8 = b'v';
pub(crate) const NEGATIVE: &[u8] = b"n";
pub(crate) const LEASE_TAG: u8 = b'l';

/// A domain value that can be cached: converted to and from its stored shape.
pub trait CacheValue: Clone + Send + Sync + 'static {
    type Stored: Serialize + DeserializeOwned;
    fn to_stored(&self) -> Self::Stored;
    fn from_stored(stored: Self::Stored) -> Option<Self>;
}

pub(crate) fn encode<V: CacheValue>(value: Option<&V>) -> Vec<u8> {
    match value {
        None => NEGATIVE.to_vec(),
        Some(value) => {
            let mut bytes = vec![VALUE_TAG];
            // Serialising plain structs of strings and numbers cannot fail.
            serde_json::to_writer(&mut bytes, &value.to_stored()).expect("cached values serialise");
            bytes
        }
    }
}

/// What an L2 read found.
#[derive(Debug)]
pub(crate) enum Stored<V> {
    Value(V),
    Absent,
}

/// `None` when the bytes are not a value of this type (another writer's
/// lease, or garbage): treated as a miss.
pub(crate) fn decode<V: CacheValue>(bytes: &[u8]) -> Option<Stored<V>> {
    match bytes.split_first()? {
        (&VALUE_TAG, json) => {
            let stored = serde_json::from_slice(json).ok()?;
            V::from_stored(stored).map(Stored::Value)
        }
        (b'n', []) => Some(Stored::Absent),
        _ => None,
    }
}

fn nanos(at: OffsetDateTime) -> i128 {
    at.unix_timestamp_nanos()
}

fn at(nanos: i128) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
}

#[derive(Serialize, Deserialize)]
pub struct StoredUser {
    id: uuid::Uuid,
    email: String,
    name: String,
    email_verified: bool,
    created_at: i128,
    updated_at: i128,
    /// Absent from entries written before users had roles.
    #[serde(default)]
    roles: Vec<String>,
    /// Absent from entries written before users could be disabled.
    #[serde(default)]
    disabled: bool,
}

impl CacheValue for User {
    type Stored = StoredUser;

    fn to_stored(&self) -> StoredUser {
        StoredUser {
            id: self.id.as_uuid(),
            email: self.email.as_str().to_owned(),
            name: self.name.clone(),
            email_verified: self.email_verified,
            created_at: nanos(self.created_at),
            updated_at: nanos(self.updated_at),
            roles: self.roles.clone(),
            disabled: self.disabled,
        }
    }

    fn from_stored(s: StoredUser) -> Option<Self> {
        Some(User {
            id: UserId::from_uuid(s.id),
            email: Email::from_stored(&s.email),
            name: s.name,
            email_verified: s.email_verified,
            created_at: at(s.created_at)?,
            updated_at: at(s.updated_at)?,
            roles: s.roles,
            disabled: s.disabled,
        })
    }
}

#[derive(Serialize, Deserialize)]
pub struct StoredSession {
    id: uuid::Uuid,
    user_id: uuid::Uuid,
    created_at: i128,
    expires_at: i128,
    last_used_at: i128,
    revoked_at: Option<i128>,
    user_agent: Option<String>,
    ip: Option<IpAddr>,
    /// `Amr` bits; absent from entries written before sessions had it.
    #[serde(default)]
    amr: u8,
    /// A relying party's session: its client, parent session and scope
    /// names; absent for every other session (and from older entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client: Option<(uuid::Uuid, uuid::Uuid, Vec<String>)>,
}

impl CacheValue for Session {
    type Stored = StoredSession;

    fn to_stored(&self) -> StoredSession {
        StoredSession {
            id: self.id.as_uuid(),
            user_id: self.user_id.as_uuid(),
            created_at: nanos(self.created_at),
            expires_at: nanos(self.expires_at),
            last_used_at: nanos(self.last_used_at),
            revoked_at: self.revoked_at.map(nanos),
            user_agent: self.user_agent.clone(),
            ip: self.ip,
            amr: self.amr.bits(),
            client: self.client.map(|c| {
                (
                    c.client_id.as_uuid(),
                    c.parent_id.as_uuid(),
                    c.scopes.names(),
                )
            }),
        }
    }

    fn from_stored(s: StoredSession) -> Option<Self> {
        Some(Session {
            id: SessionId::from_uuid(s.id),
            user_id: UserId::from_uuid(s.user_id),
            created_at: at(s.created_at)?,
            expires_at: at(s.expires_at)?,
            last_used_at: at(s.last_used_at)?,
            revoked_at: match s.revoked_at {
                Some(n) => Some(at(n)?),
                None => None,
            },
            user_agent: s.user_agent,
            ip: s.ip,
            amr: domain::Amr::from_bits(s.amr),
            client: match s.client {
                None => None,
                Some((client_id, parent_id, scopes)) => Some(ClientSession {
                    client_id: ClientId::from_uuid(client_id),
                    parent_id: SessionId::from_uuid(parent_id),
                    scopes: scopes
                        .iter()
                        .map(|name| name.parse::<Scope>().ok())
                        .collect::<Option<Scopes>>()?,
                }),
            },
        })
    }
}

#[derive(Serialize, Deserialize)]
pub struct StoredProfile {
    user_id: uuid::Uuid,
    bio: Option<String>,
    avatar_url: Option<String>,
    location: Option<String>,
    website: Option<String>,
    updated_at: i128,
}

impl CacheValue for Profile {
    type Stored = StoredProfile;

    fn to_stored(&self) -> StoredProfile {
        StoredProfile {
            user_id: self.user_id.as_uuid(),
            bio: self.bio.clone(),
            avatar_url: self.avatar_url.clone(),
            location: self.location.clone(),
            website: self.website.clone(),
            updated_at: nanos(self.updated_at),
        }
    }

    fn from_stored(s: StoredProfile) -> Option<Self> {
        Some(Profile {
            user_id: UserId::from_uuid(s.user_id),
            bio: s.bio,
            avatar_url: s.avatar_url,
            location: s.location,
            website: s.website,
            updated_at: at(s.updated_at)?,
        })
    }
}

/// An API client: the SHA-256 of its secret (256 random bits, so the digest
/// gives nothing away), never the secret; none for a public client. The
/// relying-party settings are absent from entries written before the
/// provider: such an entry reads as an API client with every scope.
#[derive(Serialize, Deserialize)]
pub struct StoredClient {
    id: uuid::Uuid,
    name: String,
    secret_sha256: Option<[u8; 32]>,
    created_at: i128,
    created_by: Option<uuid::Uuid>,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    backchannel_logout_uri: Option<String>,
    #[serde(default)]
    first_party: bool,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    #[serde(default)]
    id_token_alg: Option<String>,
}

impl CacheValue for ApiClient {
    type Stored = StoredClient;

    fn to_stored(&self) -> StoredClient {
        let settings = &self.settings;
        StoredClient {
            id: self.id.as_uuid(),
            name: self.name.as_str().to_owned(),
            secret_sha256: self.secret_hash.as_ref().map(|h| *h.as_bytes()),
            created_at: nanos(self.created_at),
            created_by: self.created_by.map(|id| id.as_uuid()),
            redirect_uris: RegisteredUri::strings(&settings.redirect_uris),
            post_logout_redirect_uris: RegisteredUri::strings(&settings.post_logout_redirect_uris),
            backchannel_logout_uri: settings
                .backchannel_logout_uri
                .as_ref()
                .map(|u| u.as_str().to_owned()),
            first_party: settings.first_party,
            scopes: Some(settings.scopes.names()),
            id_token_alg: Some(settings.id_token_algorithm.as_str().to_owned()),
        }
    }

    fn from_stored(s: StoredClient) -> Option<Self> {
        let uri = |raw: &str| RegisteredUri::parse(raw, UriPolicy::AllowHttp).ok();
        let uris = |raw: &[String]| raw.iter().map(|u| uri(u)).collect::<Option<Vec<_>>>();
        let scopes = match s.scopes {
            None => Scopes::all(),
            Some(names) => names
                .iter()
                .map(|name| name.parse::<Scope>().ok())
                .collect::<Option<Scopes>>()?,
        };
        Some(ApiClient {
            id: ClientId::from_uuid(s.id),
            name: ClientName::parse(&s.name).ok()?,
            secret_hash: s.secret_sha256.map(TokenHash::from_bytes),
            created_at: at(s.created_at)?,
            created_by: s.created_by.map(UserId::from_uuid),
            settings: ClientSettings {
                redirect_uris: uris(&s.redirect_uris)?,
                post_logout_redirect_uris: uris(&s.post_logout_redirect_uris)?,
                backchannel_logout_uri: match s.backchannel_logout_uri {
                    Some(raw) => Some(uri(&raw)?),
                    None => None,
                },
                first_party: s.first_party,
                scopes,
                id_token_algorithm: match s.id_token_alg {
                    Some(raw) => raw.parse().ok()?,
                    None => IdTokenAlgorithm::default(),
                },
            },
        })
    }
}

/// The link only: provider access and refresh tokens are never part of it.
#[derive(Serialize, Deserialize)]
pub struct StoredOAuthAccount {
    user_id: uuid::Uuid,
    provider: String,
    subject: String,
    email: Option<String>,
    created_at: i128,
}

impl CacheValue for OAuthAccount {
    type Stored = StoredOAuthAccount;

    fn to_stored(&self) -> StoredOAuthAccount {
        StoredOAuthAccount {
            user_id: self.user_id.as_uuid(),
            provider: self.provider.to_string(),
            subject: self.subject.clone(),
            email: self.email.clone(),
            created_at: nanos(self.created_at),
        }
    }

    fn from_stored(s: StoredOAuthAccount) -> Option<Self> {
        Some(OAuthAccount {
            user_id: UserId::from_uuid(s.user_id),
            provider: ProviderName::parse(&s.provider).ok()?,
            subject: s.subject,
            email: s.email,
            created_at: at(s.created_at)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        let now = OffsetDateTime::now_utc();
        Session {
            id: SessionId::new(),
            user_id: UserId::new(),
            created_at: now,
            expires_at: now + time::Duration::days(30),
            last_used_at: now,
            revoked_at: Some(now),
            user_agent: Some("curl/8".into()),
            ip: Some("127.0.0.1".parse().unwrap()),
            amr: domain::Amr::PWD
                .with(domain::Amr::OTP)
                .with(domain::Amr::MFA),
            client: Some(ClientSession {
                client_id: ClientId::new(),
                parent_id: SessionId::new(),
                scopes: Scopes::parse_lenient("openid email").0,
            }),
        }
    }

    #[test]
    fn values_round_trip() {
        let s = session();
        let bytes = encode(Some(&s));
        assert_eq!(bytes[0], VALUE_TAG);
        match decode::<Session>(&bytes) {
            Some(Stored::Value(back)) => assert_eq!(back, s),
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            decode::<Session>(&encode::<Session>(None)),
            Some(Stored::Absent)
        ));
    }

    #[test]
    fn clients_round_trip_and_entries_from_before_the_provider_still_read() {
        use domain::oidc::{RegistrationRequest, UriPolicy};
        let registration = RegistrationRequest {
            redirect_uris: vec!["https://app.example.com/cb".into()],
            post_logout_redirect_uris: vec!["https://app.example.com/".into()],
            backchannel_logout_uri: Some("https://app.example.com/bcl".into()),
            scopes: Some(vec!["openid".into(), "email".into()]),
            id_token_signed_response_alg: Some("EdDSA".into()),
            public: true,
            first_party: true,
        }
        .parse(UriPolicy::HttpsOnly)
        .unwrap();
        let client = ApiClient {
            id: ClientId::new(),
            name: ClientName::parse("grafana").unwrap(),
            secret_hash: None,
            created_at: OffsetDateTime::now_utc(),
            created_by: None,
            settings: registration.settings,
        };
        match decode::<ApiClient>(&encode(Some(&client))) {
            Some(Stored::Value(back)) => assert_eq!(back, client),
            other => panic!("unexpected {other:?}"),
        }
        // Written by the version before relying parties existed.
        let id = uuid::Uuid::now_v7();
        let old = format!(
            r#"v{{"id":"{id}","name":"billing","secret_sha256":[{}],"created_at":0,"created_by":null}}"#,
            ["7"; 32].join(",")
        );
        match decode::<ApiClient>(old.as_bytes()) {
            Some(Stored::Value(back)) => {
                assert_eq!(back.secret_hash, Some(TokenHash::from_bytes([7; 32])));
                assert_eq!(back.settings, ClientSettings::api_client());
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn leases_and_garbage_are_not_values() {
        assert!(decode::<Session>(b"l0123").is_none());
        assert!(decode::<Session>(b"v{not json").is_none());
        assert!(decode::<Session>(b"").is_none());
        assert!(decode::<User>(&encode(Some(&session()))).is_none());
    }
}
