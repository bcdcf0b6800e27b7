//! Cache keys. In process they are small enum values (no allocation to look up
//! an id); in Redis they are the seed's names with a prefix and an encoding
//! version: `{prefix}:v1:user:id:{id}`, `…:user:email:{email}`,
//! `…:session:id:{sid}`, `…:oauth:{user_id}:{provider}`, `…:profile:user:{user_id}`,
//! `…:client:id:{client_id}` (an API client: its secret's digest, never the secret).
//!
//! A key never holds a token: sessions are found by their id.

use std::fmt;
use std::hash::{Hash, Hasher};

use domain::{ClientId, Email, ProviderName, SessionId, UserId};

/// Bumped whenever the encoding of a cached value changes, so a rolling deploy
/// never reads the other version's bytes.
pub const ENCODING_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    UserById(UserId),
    UserByEmail(Email),
    Session(SessionId),
    OAuth(UserId, ProviderName),
    Profile(UserId),
    Client(ClientId),
}

/// What is cached, as the `entity` label of the metrics names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Entity {
    User,
    Session,
    OAuth,
    Profile,
    Client,
}

impl Entity {
    pub const ALL: [Entity; 5] = [
        Self::User,
        Self::Session,
        Self::OAuth,
        Self::Profile,
        Self::Client,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Session => "session",
            Self::OAuth => "oauth",
            Self::Profile => "profile",
            Self::Client => "client",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl Key {
    pub fn entity(&self) -> Entity {
        match self {
            Self::UserById(_) | Self::UserByEmail(_) => Entity::User,
            Self::Session(_) => Entity::Session,
            Self::OAuth(..) => Entity::OAuth,
            Self::Profile(_) => Entity::Profile,
            Self::Client(_) => Entity::Client,
        }
    }

    /// The Redis key.
    pub fn redis_key(&self, prefix: &str) -> String {
        format!("{prefix}:v{ENCODING_VERSION}:{}", RedisSuffix(self))
    }

    /// Reads a Redis key back (from an invalidation message). `None` for keys of
    /// another prefix or encoding version, or that do not parse.
    pub fn parse(prefix: &str, raw: &str) -> Option<Self> {
        let rest = raw.strip_prefix(prefix)?.strip_prefix(':')?;
        let rest = rest.strip_prefix(&format!("v{ENCODING_VERSION}:"))?;
        let (kind, rest) = rest.split_once(':')?;
        match kind {
            "user" => match rest.split_once(':')? {
                ("id", id) => id.parse().ok().map(Self::UserById),
                ("email", email) => Email::parse(email).ok().map(Self::UserByEmail),
                _ => None,
            },
            "session" => {
                let id = rest.strip_prefix("id:")?;
                id.parse().ok().map(Self::Session)
            }
            "oauth" => {
                let (user, provider) = rest.split_once(':')?;
                Some(Self::OAuth(
                    user.parse().ok()?,
                    ProviderName::parse(provider).ok()?,
                ))
            }
            "profile" => {
                let id = rest.strip_prefix("user:")?;
                id.parse().ok().map(Self::Profile)
            }
            "client" => {
                let id = rest.strip_prefix("id:")?;
                id.parse().ok().map(Self::Client)
            }
            _ => None,
        }
    }

    /// A stable stripe index for the key's invalidation generation.
    pub(crate) fn stripe(&self, stripes: usize) -> usize {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.hash(&mut hasher);
        (hasher.finish() as usize) % stripes
    }
}

struct RedisSuffix<'a>(&'a Key);

impl fmt::Display for RedisSuffix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Key::UserById(id) => write!(f, "user:id:{id}"),
            Key::UserByEmail(email) => write!(f, "user:email:{}", email.as_str()),
            Key::Session(id) => write!(f, "session:id:{id}"),
            Key::OAuth(user, provider) => write!(f, "oauth:{user}:{provider}"),
            Key::Profile(user) => write!(f, "profile:user:{user}"),
            Key::Client(id) => write!(f, "client:id:{id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_their_redis_names() {
        let user = UserId::new();
        let keys = [
            Key::UserById(user),
            Key::UserByEmail(Email::parse("Ada@Example.com").unwrap()),
            Key::Session(SessionId::new()),
            Key::OAuth(user, ProviderName::parse("github").unwrap()),
            Key::Profile(user),
            Key::Client(ClientId::new()),
        ];
        for key in keys {
            let raw = key.redis_key("cz");
            assert!(raw.starts_with("cz:v1:"), "{raw}");
            assert_eq!(Key::parse("cz", &raw), Some(key.clone()), "{raw}");
            assert_eq!(Key::parse("other", &raw), None);
        }
        assert_eq!(
            Key::UserById(user).redis_key("cz"),
            format!("cz:v1:user:id:{user}")
        );
        assert_eq!(
            Key::UserByEmail(Email::parse("ada@example.com").unwrap()).redis_key("app"),
            "app:v1:user:email:ada@example.com"
        );
    }

    #[test]
    fn foreign_and_malformed_keys_are_ignored() {
        for raw in [
            "cz:v2:user:id:0190a2b4-0000-7000-8000-000000000000",
            "cz:v1:user:id:not-a-uuid",
            "cz:v1:session:token:abc",
            "cz:v1:what:ever",
            "cz",
            "",
        ] {
            assert_eq!(Key::parse("cz", raw), None, "{raw}");
        }
    }
}
