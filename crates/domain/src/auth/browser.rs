//! Browser sessions: a cookie naming a server-side session of the `sessions`
//! table, for the hosted pages.
//!
//! The cookie's value is the session's id and a MAC over it under a key
//! derived from the signing key (`{id}.{mac}`): only this service can name a
//! session that way, and a session named by a cookie is checked like one named
//! by an access token — it must exist, be active and belong to its user — so
//! revoking it (sign-out, "sign out other sessions", a password change, an
//! admin) ends it on every instance at once. No refresh token of such a
//! session is ever disclosed: it cannot be turned into API tokens.
//!
//! The same derived keys sign the pages' anti-forgery tokens
//! ([`PageSecret`]).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use time::OffsetDateTime;

use super::{AuthService, Principal, SESSION_EXPIRED};
use crate::error::AuthError;
use crate::ids::SessionId;
use crate::user::Session;

type HmacSha256 = Hmac<Sha256>;

/// A key derived from secret key material for one purpose.
#[derive(Clone)]
pub struct PageSecret {
    key: [u8; 32],
}

impl PageSecret {
    pub(crate) fn derive(material: &[u8], purpose: &str) -> Self {
        let mut mac = HmacSha256::new_from_slice(purpose.as_bytes()).expect("any key length");
        mac.update(material);
        Self {
            key: mac.finalize().into_bytes().into(),
        }
    }

    fn mac(&self, parts: &[&[u8]]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("any key length");
        for part in parts {
            // Length-prefixed: ("ab", "c") and ("a", "bc") differ.
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac
    }

    /// A base64url tag over `parts`.
    pub fn sign(&self, parts: &[&[u8]]) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(parts).finalize().into_bytes())
    }

    /// Whether `tag` is [`PageSecret::sign`] of `parts` (constant time).
    pub fn verify(&self, parts: &[&[u8]], tag: &str) -> bool {
        let Ok(tag) = URL_SAFE_NO_PAD.decode(tag) else {
            return false;
        };
        self.mac(parts).verify_slice(&tag).is_ok()
    }
}

impl std::fmt::Debug for PageSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageSecret([REDACTED])")
    }
}

/// The keys of the browser sessions and of the pages' forms.
#[derive(Clone, Debug)]
pub(crate) struct BrowserKeys {
    sessions: PageSecret,
    forms: PageSecret,
}

impl BrowserKeys {
    pub(crate) fn from_key_material(material: &[u8]) -> Self {
        Self {
            sessions: PageSecret::derive(material, "codezest-auth/browser-session/v1"),
            forms: PageSecret::derive(material, "codezest-auth/page-forms/v1"),
        }
    }
}

impl AuthService {
    /// The cookie value that names `session` in a browser.
    pub fn browser_cookie(&self, session: &Session) -> String {
        let id = session.id.as_uuid().simple().to_string();
        let tag = self.browser.sessions.sign(&[id.as_bytes()]);
        format!("{id}.{tag}")
    }

    /// The signed-in user of a browser presenting `cookie`: its MAC checked in
    /// constant time, then its session, which must be active.
    pub async fn authenticate_browser(&self, cookie: &str) -> Result<Principal, AuthError> {
        let (id, tag) = cookie.split_once('.').ok_or(SESSION_EXPIRED)?;
        if !self.browser.sessions.verify(&[id.as_bytes()], tag) {
            return Err(SESSION_EXPIRED);
        }
        let id: SessionId = id.parse().map_err(|_| SESSION_EXPIRED)?;
        let session = self.sessions.find_by_id(id).await?.ok_or(SESSION_EXPIRED)?;
        // A relying party's session is never a browser's.
        if !session.is_active(OffsetDateTime::now_utc()) || session.client.is_some() {
            return Err(SESSION_EXPIRED);
        }
        Ok(Principal {
            user_id: session.user_id,
            session_id: session.id,
            signed_in_at: session.created_at,
            client: None,
        })
    }

    /// The key the pages sign their anti-forgery tokens with.
    pub fn form_secret(&self) -> &PageSecret {
        &self.browser.forms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_verify_only_their_own_parts_and_key() {
        let secret = PageSecret::derive(b"material", "purpose");
        let tag = secret.sign(&[b"ab", b"c"]);
        assert!(secret.verify(&[b"ab", b"c"], &tag));
        assert!(!secret.verify(&[b"a", b"bc"], &tag));
        assert!(!secret.verify(&[b"ab", b"c"], "not base64 !"));
        assert!(!secret.verify(&[b"ab", b"c"], &tag[1..]));
        let other = PageSecret::derive(b"material", "another purpose");
        assert!(!other.verify(&[b"ab", b"c"], &tag));
        assert_eq!(format!("{secret:?}"), "PageSecret([REDACTED])");
    }
}
