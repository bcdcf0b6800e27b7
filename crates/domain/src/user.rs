//! Entities and the value types they are built from.

use std::fmt;
use std::net::IpAddr;

use time::OffsetDateTime;

use crate::amr::{Amr, MfaMethods};
use crate::ids::{ClientId, SessionId, UserId};
use crate::oidc::Scopes;
use crate::password::PasswordHash;
use crate::refresh::TokenHash;
use crate::validation::FieldError;

mod email;

pub use email::Email;

/// A person's display name: trimmed, 1–100 characters, no control characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_CHARS: usize = 100;

    /// The length bound applies to the value as sent, before trimming, as the
    /// API document states it.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(FieldError::new("name", "must not be empty"));
        }
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(FieldError::new("name", "must be at most 100 characters"));
        }
        if name.chars().any(char::is_control) {
            return Err(FieldError::new(
                "name",
                "must not contain control characters",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A full replacement of a profile's optional fields (PUT semantics: an absent
/// field clears it). Every field is validated on construction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProfileUpdate {
    pub bio: Option<String>,
    pub avatar_url: Option<String>,
    pub location: Option<String>,
    pub website: Option<String>,
}

impl ProfileUpdate {
    pub const BIO_MAX_CHARS: usize = 1000;
    pub const LOCATION_MAX_CHARS: usize = 100;
    pub const URL_MAX_LEN: usize = 2048;

    /// Validates every field, reporting all the bad ones.
    pub fn parse(
        bio: Option<String>,
        avatar_url: Option<String>,
        location: Option<String>,
        website: Option<String>,
    ) -> Result<Self, crate::ValidationErrors> {
        let mut errors = crate::ValidationErrors::new();
        let bio = errors
            .check(text_field("bio", bio, Self::BIO_MAX_CHARS, true))
            .flatten();
        let location = errors
            .check(text_field(
                "location",
                location,
                Self::LOCATION_MAX_CHARS,
                false,
            ))
            .flatten();
        let avatar_url = errors.check(url_field("avatar_url", avatar_url)).flatten();
        let website = errors.check(url_field("website", website)).flatten();
        errors.into_result()?;
        Ok(Self {
            bio,
            avatar_url,
            location,
            website,
        })
    }
}

fn text_field(
    field: &'static str,
    value: Option<String>,
    max_chars: usize,
    multiline: bool,
) -> Result<Option<String>, FieldError> {
    let Some(value) = value else { return Ok(None) };
    // Bounded as sent (before trimming), as the API document states it.
    if value.chars().count() > max_chars {
        return Err(FieldError::new(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let bad_control = |c: char| c.is_control() && !(multiline && (c == '\n' || c == '\t'));
    if value.chars().any(bad_control) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(Some(value.to_owned()))
}

fn url_field(field: &'static str, value: Option<String>) -> Result<Option<String>, FieldError> {
    let Some(value) = value else { return Ok(None) };
    if value.chars().count() > ProfileUpdate::URL_MAX_LEN {
        return Err(FieldError::new(field, "must be at most 2048 characters"));
    }
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    // Parsed by the `url` crate (WHATWG rules); kept as typed, so what the user
    // wrote is what others see.
    let valid = !value.chars().any(|c| c.is_whitespace() || c.is_control())
        && url::Url::parse(value).is_ok_and(|url| {
            matches!(url.scheme(), "http" | "https")
                && url.host_str().is_some_and(|host| !host.is_empty())
                && url.username().is_empty()
                && url.password().is_none()
        });
    if !valid {
        return Err(FieldError::new(field, "must be an absolute http(s) URL"));
    }
    Ok(Some(value.to_owned()))
}

/// A user account as every reader sees it. Credentials are deliberately absent:
/// they are read through [`crate::UserRepository::credentials_by_email`] alone, so
/// this value can be cached and logged without carrying a password hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub name: String,
    pub email_verified: bool,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// Sorted; `admin` opens the admin API.
    pub roles: Vec<String>,
    /// Disabled by an admin: no sign-in, no session, no token works.
    pub disabled: bool,
}

impl User {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// The most roles one user holds.
pub const MAX_ROLES: usize = 32;

/// Role names: 1–64 characters, a lower-case letter first, then lower-case
/// letters, digits, `_`, `.`, `:` or `-`. Returned sorted and deduplicated.
pub fn parse_roles(raw: &[String]) -> Result<Vec<String>, FieldError> {
    let valid = |role: &str| {
        let mut chars = role.chars();
        role.len() <= 64
            && chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.:-".contains(c))
    };
    if let Some(bad) = raw.iter().find(|role| !valid(role)) {
        return Err(FieldError::new(
            "roles",
            format!(
                "{bad:?} is not a role name: 1 to 64 characters, a lower-case letter first, then lower-case letters, digits, `_`, `.`, `:` or `-`"
            ),
        ));
    }
    let mut roles = raw.to_vec();
    roles.sort();
    roles.dedup();
    if roles.len() > MAX_ROLES {
        return Err(FieldError::new("roles", "at most 32 roles"));
    }
    Ok(roles)
}

/// A user's public profile. Absent until first set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    pub user_id: UserId,
    pub bio: Option<String>,
    pub avatar_url: Option<String>,
    pub location: Option<String>,
    pub website: Option<String>,
    pub updated_at: OffsetDateTime,
}

/// What a password check needs, and nothing else.
#[derive(Debug)]
pub struct Credentials {
    pub user_id: UserId,
    /// `None` for accounts that only ever signed in through an OAuth provider.
    pub password_hash: Option<PasswordHash>,
    /// The second factors a sign-in must pass (none: the password suffices).
    pub mfa: MfaMethods,
    /// Disabled by an admin: a right password answers `account_disabled`.
    pub disabled: bool,
}

/// A user to be created.
#[derive(Debug)]
pub struct NewUser {
    pub id: UserId,
    pub email: Email,
    pub name: DisplayName,
    pub email_verified: bool,
    pub password_hash: Option<PasswordHash>,
}

/// A session as readers see it: the refresh-token hash stays in storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub created_at: OffsetDateTime,
    /// Absolute: refreshing never extends it.
    pub expires_at: OffsetDateTime,
    pub last_used_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    pub user_agent: Option<String>,
    pub ip: Option<IpAddr>,
    /// How the user signed in (kept across refreshes).
    pub amr: Amr,
    /// `Some` for a relying party's session: the tokens of one client,
    /// opened from a browser session, which ends with it.
    pub client: Option<ClientSession>,
}

/// What makes a session a relying party's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientSession {
    pub client_id: ClientId,
    /// The browser session the user authorized from (the ID token's `sid`).
    pub parent_id: SessionId,
    /// What the user granted (the tokens' `scope`).
    pub scopes: Scopes,
}

impl Session {
    pub fn is_active(&self, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

/// A session to be created, with the hash of its first refresh token.
#[derive(Debug)]
pub struct NewSession {
    pub id: SessionId,
    pub user_id: UserId,
    pub refresh_token_hash: TokenHash,
    pub expires_at: OffsetDateTime,
    pub user_agent: Option<String>,
    pub ip: Option<IpAddr>,
    pub amr: Amr,
    pub client: Option<ClientSession>,
}

/// What presenting a refresh token did, decided atomically by the repository.
#[derive(Debug, PartialEq, Eq)]
pub enum RotateOutcome {
    /// The current token: the session now holds its successor.
    Rotated(Session),
    /// The immediate predecessor of the current token, inside the grace window,
    /// whose successor is the current token: a concurrent refresh from the same
    /// client. Nothing changed; the caller answers with that same successor.
    Grace(Session),
    /// A token that was already rotated, outside the grace window: the session
    /// has been revoked.
    Reused {
        session_id: SessionId,
        user_id: UserId,
        /// Every session this ended: it and the relying parties' sessions
        /// opened from it.
        ended: Vec<SessionId>,
    },
    /// The token belongs to a session that is revoked or expired.
    Inactive,
    /// No session ever issued this token.
    NotFound,
}

/// The name of an identity provider as the routes, the links and the cache keys
/// carry it: `google`, `github`, or a configured OpenID Connect name — 1 to 32
/// lower-case ASCII letters, digits, `-` or `_`. Parsed once at the edge.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProviderName(String);

impl ProviderName {
    pub const MAX_LEN: usize = 32;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let valid = (1..=Self::MAX_LEN).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(FieldError::new(
                "provider",
                "must be 1 to 32 lower-case letters, digits, - or _",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProviderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An external identity linked to a user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthAccount {
    pub user_id: UserId,
    pub provider: ProviderName,
    pub subject: String,
    pub email: Option<String>,
    pub created_at: OffsetDateTime,
}

/// A link to be created between a user and an external identity.
#[derive(Clone, Debug)]
pub struct NewOAuthAccount {
    pub user_id: UserId,
    pub provider: ProviderName,
    pub subject: String,
    pub email: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_names_are_parsed() {
        for good in ["google", "github", "corp-sso", "okta_2", "a"] {
            assert_eq!(ProviderName::parse(good).unwrap().as_str(), good);
        }
        let long = "x".repeat(33);
        for bad in ["", "Google", "a b", "a/b", "a:b", long.as_str(), "é"] {
            assert!(ProviderName::parse(bad).is_err(), "{bad:?}");
        }
    }
    use proptest::prelude::*;

    #[test]
    fn email_is_normalised() {
        let email = Email::parse("  Ada.Lovelace@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "ada.lovelace@example.com");
    }

    #[test]
    fn bad_emails_are_rejected() {
        for raw in [
            "",
            "plainaddress",
            "@example.com",
            "a@",
            "a@b",
            "a b@example.com",
            "a@exa mple.com",
            "a@-example.com",
            "a@example..com",
            "a@@example.com",
        ] {
            assert!(Email::parse(raw).is_err(), "{raw:?} should be rejected");
        }
        let long = format!("{}@example.com", "a".repeat(65));
        assert!(Email::parse(&long).is_err());
    }

    /// The probe's look-alikes: each used to be an account of its own.
    #[test]
    fn look_alike_addresses_are_one_address_or_refused() {
        let ada = Email::parse("ada@example.com").unwrap();
        for same in [
            "ａｄａ@ｅｘａｍｐｌｅ.ｃｏｍ", // fullwidth
            "ADA@EXAMPLE.COM",
            "ada@EXAMPLE.com",
        ] {
            assert_eq!(Email::parse(same).unwrap(), ada, "{same}");
        }
        let unicode = Email::parse("zoë@exämple.com").unwrap();
        assert_eq!(unicode.as_str(), "zoë@exämple.com");
        assert_eq!(Email::parse("zoë@xn--exmple-cua.com").unwrap(), unicode);
        assert_eq!(Email::parse("zoë@EXÄMPLE.com").unwrap(), unicode);
        // Decomposed "ë" (e + combining diaeresis) is the same address.
        assert_eq!(Email::parse("zoe\u{308}@exämple.com").unwrap(), unicode);
        for refused in [
            "\u{430}da@example.com",   // Cyrillic а among Latin letters
            "ada\u{200B}@example.com", // zero-width space
            "a\u{200D}da@example.com", // zero-width joiner
            "ada\u{202E}@example.com", // right-to-left override
            "a\u{AD}da@example.com",   // soft hyphen
            "ada@1.2.3.4",             // an IP literal
            "ada@[1.2.3.4]",
            "ada@ex\u{430}mple.com", // a mixed-script domain label
        ] {
            assert!(Email::parse(refused).is_err(), "{refused:?} was accepted");
        }
        // One script, not Latin, is fine: Cyrillic or Greek addresses exist.
        assert!(Email::parse("\u{432}\u{430}\u{441}\u{44f}@example.com").is_ok());
        // Stored addresses are read as they were written.
        assert_eq!(Email::from_stored("ada@1.2.3.4").as_str(), "ada@1.2.3.4");
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(DisplayName::parse("  Ada ").unwrap().as_str(), "Ada");
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse(&"é".repeat(101)).is_err());
        assert!(DisplayName::parse(&"é".repeat(100)).is_ok());
        assert!(DisplayName::parse("a\u{0}b").is_err());
        // Bounded as sent: padding does not sneak past the limit.
        assert!(DisplayName::parse(&format!(" {}", "é".repeat(100))).is_err());
    }

    #[test]
    fn profile_reports_every_bad_field() {
        let errors = ProfileUpdate::parse(
            Some("x".repeat(1001)),
            Some("javascript:alert(1)".into()),
            None,
            Some("ftp://example.com".into()),
        )
        .unwrap_err();
        let fields: Vec<_> = errors.errors().iter().map(|e| e.field.as_ref()).collect();
        assert_eq!(fields, ["bio", "avatar_url", "website"]);
    }

    #[test]
    fn profile_blank_fields_clear() {
        let update = ProfileUpdate::parse(
            Some("  ".into()),
            Some("https://cdn.example.com/a.png".into()),
            Some(" Lisbon ".into()),
            None,
        )
        .unwrap();
        assert_eq!(update.bio, None);
        assert_eq!(update.location.as_deref(), Some("Lisbon"));
    }

    proptest! {
        #[test]
        fn parsed_emails_are_stable(local in "[a-zA-Z0-9._%+-]{1,64}", domain in "[a-zA-Z0-9]{1,20}\\.[a-zA-Z]{2,10}") {
            let raw = format!("{local}@{domain}");
            let email = Email::parse(&raw).unwrap();
            prop_assert_eq!(email.as_str(), raw.to_lowercase());
            // Parsing is idempotent.
            prop_assert_eq!(Email::parse(email.as_str()).unwrap(), email);
        }

        #[test]
        fn email_parse_never_panics(raw in "\\PC{0,300}") {
            let _ = Email::parse(&raw);
        }

        #[test]
        fn parsed_names_are_trimmed(raw in "\\PC{0,120}") {
            if let Ok(name) = DisplayName::parse(&raw) {
                prop_assert_eq!(name.as_str(), name.as_str().trim());
                prop_assert!(!name.as_str().is_empty());
                prop_assert!(name.as_str().chars().count() <= DisplayName::MAX_CHARS);
            }
        }
    }

    #[test]
    fn roles_are_checked_sorted_and_deduplicated() {
        let raw = ["viewer", "admin", "viewer", "billing:read"].map(String::from);
        assert_eq!(
            parse_roles(&raw).unwrap(),
            ["admin", "billing:read", "viewer"].map(String::from)
        );
        for bad in ["", "Admin", "1st", "has space", &"a".repeat(65)] {
            assert!(parse_roles(&[bad.to_owned()]).is_err(), "{bad:?}");
        }
        let many: Vec<String> = (0..33).map(|i| format!("r{i}")).collect();
        assert!(parse_roles(&many).is_err());
    }
}
