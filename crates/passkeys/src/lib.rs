//! `domain::ports::WebAuthn` on `webauthn-rs`, the Kanidm project's WebAuthn library:
//! every check of a ceremony — challenge, origin, RP id hash, signature, user
//! verification, signature counter, backup flags — is its own.
//!
//! Passkeys are registered as discoverable credentials (`residentKey:
//! "required"`), so they sign in without a typed address, with user
//! verification required (webauthn-rs's passkey policy). The ceremony state
//! crosses the database as JSON (`danger-allow-state-serialisation`: safe here
//! because the state never leaves the server and is single use).

use domain::{
    UserId, ports::Assertion, ports::Ceremony, ports::CeremonyError, ports::NewCredential,
    ports::Passkey as StoredPasskey, ports::WebAuthn, user::User,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use webauthn_rs::prelude::{
    CreationChallengeResponse, DiscoverableAuthentication, DiscoverableKey, Passkey,
    PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
    Url, Webauthn, WebauthnBuilder,
};
use webauthn_rs_proto::ResidentKeyRequirement;

/// Where passkeys are valid.
#[derive(Debug, Clone)]
pub struct RelyingParty {
    /// A registrable domain (`example.com`): passkeys work on it and its subdomains' origins listed.
    pub id: String,
    /// The origin browsers run the ceremonies on (`https://app.example.com`).
    pub origin: Url,
    /// Shown by authenticators.
    pub name: String,
}

/// The ceremonies of one relying party.
pub struct WebauthnRs {
    webauthn: Webauthn,
}

impl WebauthnRs {
    /// Fails when the RP id is not the origin's host or a parent of it (an IP
    /// address never is).
    pub fn new(rp: &RelyingParty) -> Result<Self, String> {
        let webauthn = WebauthnBuilder::new(&rp.id, &rp.origin)
            .and_then(|builder| builder.rp_name(&rp.name).build())
            .map_err(|_| {
                format!(
                    "{} is not a valid relying party id for the origin {} (a domain the origin's host is, or ends with)",
                    rp.id, rp.origin
                )
            })?;
        Ok(Self { webauthn })
    }
}

fn to_json(value: &impl Serialize) -> Result<Value, CeremonyError> {
    serde_json::to_value(value).map_err(|e| CeremonyError::Internal(e.to_string()))
}

/// The browser's JSON: malformed is a rejected answer.
fn from_browser<T: DeserializeOwned>(value: &Value) -> Result<T, CeremonyError> {
    serde_json::from_value(value.clone())
        .map_err(|e| CeremonyError::Rejected(format!("malformed credential: {e}")))
}

/// Our own stored JSON: unreadable is a server fault.
fn from_store<T: DeserializeOwned>(value: &Value) -> Result<T, CeremonyError> {
    serde_json::from_value(value.clone()).map_err(|e| CeremonyError::Internal(e.to_string()))
}

fn rejected(error: impl std::fmt::Display) -> CeremonyError {
    CeremonyError::Rejected(error.to_string())
}

/// The `publicKey` member of a ceremony's options (what `navigator.credentials` takes).
fn public_key(options: &impl Serialize) -> Result<Value, CeremonyError> {
    let mut json = to_json(options)?;
    Ok(json
        .get_mut("publicKey")
        .map(Value::take)
        .unwrap_or(Value::Null))
}

fn flag(data: &Value, name: &str) -> bool {
    data["cred"][name].as_bool().unwrap_or(false)
}

fn stored(passkeys: &[StoredPasskey]) -> Result<Vec<Passkey>, CeremonyError> {
    passkeys.iter().map(|p| from_store(&p.data)).collect()
}

impl WebAuthn for WebauthnRs {
    fn start_registration(
        &self,
        user: &User,
        existing: &[StoredPasskey],
    ) -> Result<Ceremony, CeremonyError> {
        let exclude = stored(existing)?
            .iter()
            .map(|p| p.cred_id().clone())
            .collect::<Vec<_>>();
        let (mut options, state): (CreationChallengeResponse, PasskeyRegistration) = self
            .webauthn
            .start_passkey_registration(
                user.id.as_uuid(),
                user.email.as_str(),
                user.name.as_str(),
                Some(exclude),
            )
            .map_err(|e| CeremonyError::Internal(e.to_string()))?;
        // A discoverable credential, so the passkey signs in without an address.
        if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
            selection.resident_key = Some(ResidentKeyRequirement::Required);
            selection.require_resident_key = true;
        }
        Ok(Ceremony {
            options: public_key(&options)?,
            state: to_json(&state)?,
        })
    }

    fn finish_registration(
        &self,
        credential: &Value,
        state: &Value,
    ) -> Result<NewCredential, CeremonyError> {
        let credential: RegisterPublicKeyCredential = from_browser(credential)?;
        let state: PasskeyRegistration = from_store(state)?;
        let passkey = self
            .webauthn
            .finish_passkey_registration(&credential, &state)
            .map_err(rejected)?;
        let data = to_json(&passkey)?;
        Ok(NewCredential {
            credential_id: passkey.cred_id().to_vec(),
            backup_eligible: flag(&data, "backup_eligible"),
            backup_state: flag(&data, "backup_state"),
            data,
        })
    }

    fn start_discoverable(&self) -> Result<Ceremony, CeremonyError> {
        let (options, state) = self
            .webauthn
            .start_discoverable_authentication()
            .map_err(|e| CeremonyError::Internal(e.to_string()))?;
        Ok(Ceremony {
            options: public_key(&options)?,
            state: to_json(&state)?,
        })
    }

    fn identify(&self, credential: &Value) -> Result<(UserId, Vec<u8>), CeremonyError> {
        let credential: PublicKeyCredential = from_browser(credential)?;
        let (user, credential_id) = self
            .webauthn
            .identify_discoverable_authentication(&credential)
            .map_err(rejected)?;
        Ok((UserId::from_uuid(user), credential_id.to_vec()))
    }

    fn start_authentication(&self, passkeys: &[StoredPasskey]) -> Result<Ceremony, CeremonyError> {
        let (options, state) = self
            .webauthn
            .start_passkey_authentication(&stored(passkeys)?)
            .map_err(|e| CeremonyError::Internal(e.to_string()))?;
        Ok(Ceremony {
            options: public_key(&options)?,
            state: to_json(&state)?,
        })
    }

    fn finish_authentication(
        &self,
        credential: &Value,
        state: &Value,
        passkeys: &[StoredPasskey],
        discoverable: bool,
    ) -> Result<Assertion, CeremonyError> {
        let credential: PublicKeyCredential = from_browser(credential)?;
        let mut keys = stored(passkeys)?;
        let result = if discoverable {
            let state: DiscoverableAuthentication = from_store(state)?;
            let discoverable: Vec<DiscoverableKey> =
                keys.iter().map(DiscoverableKey::from).collect();
            self.webauthn
                .finish_discoverable_authentication(&credential, state, &discoverable)
        } else {
            let state: PasskeyAuthentication = from_store(state)?;
            self.webauthn
                .finish_passkey_authentication(&credential, &state)
        }
        .map_err(rejected)?;
        let key = keys
            .iter_mut()
            .find(|k| k.cred_id() == result.cred_id())
            .ok_or_else(|| rejected("the credential is not one of the account's passkeys"))?;
        let updated = match key.update_credential(&result) {
            Some(true) => Some(to_json(key)?),
            _ => None,
        };
        Ok(Assertion {
            credential_id: result.cred_id().to_vec(),
            updated,
            backup_eligible: result.backup_eligible(),
            backup_state: result.backup_state(),
        })
    }
}
