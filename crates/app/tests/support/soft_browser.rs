//! A browser with `webauthn-authenticator-rs`'s software passkey, for the
//! passkey tests and the passkey benchmark (`examples/passkey_bench.rs`).

use serde_json::{Value, json};
use url::Url;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs_proto::{
    AllowCredentials, CreationChallengeResponse, RequestChallengeResponse, ResidentKeyRequirement,
};

/// The front end's origin the service is configured with (`WEBAUTHN_RP_ORIGIN`;
/// `WEBAUTHN_RP_ID=localhost`).
pub const ORIGIN: &str = "http://localhost:3000";

/// A browser with a software passkey. The soft passkey keeps no resident
/// credentials, so this side plays that part: it remembers which credential
/// it made for which user handle, offers it when the site lists none, and
/// returns the user handle with the assertion — what a discoverable
/// credential's authenticator does. Keys, signatures and counters are the
/// soft passkey's own.
pub struct Browser {
    authenticator: WebauthnAuthenticator<SoftPasskey>,
    origin: Url,
    credentials: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Default for Browser {
    fn default() -> Self {
        Self::at(ORIGIN)
    }
}

impl Browser {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn at(origin: &str) -> Self {
        Self {
            authenticator: WebauthnAuthenticator::new(SoftPasskey::new(true)),
            origin: Url::parse(origin).unwrap(),
            credentials: Vec::new(),
        }
    }

    pub fn create(&mut self, public_key: &Value) -> Value {
        let mut options: CreationChallengeResponse =
            serde_json::from_value(json!({"publicKey": public_key})).unwrap();
        let selection = options.public_key.authenticator_selection.as_mut().unwrap();
        assert_eq!(
            selection.resident_key,
            Some(ResidentKeyRequirement::Required)
        );
        // The soft passkey refuses to be asked for a resident key; the
        // resident part is played above.
        selection.resident_key = Some(ResidentKeyRequirement::Discouraged);
        selection.require_resident_key = false;
        let user_handle = options.public_key.user.id.to_vec();
        let credential = self
            .authenticator
            .do_registration(self.origin.clone(), options)
            .expect("the authenticator registers");
        self.credentials
            .push((credential.raw_id.to_vec(), user_handle));
        serde_json::to_value(credential).unwrap()
    }

    pub fn get(&mut self, public_key: &Value) -> Value {
        let mut options: RequestChallengeResponse =
            serde_json::from_value(json!({"publicKey": public_key})).unwrap();
        let discoverable = options.public_key.allow_credentials.is_empty();
        if discoverable {
            options.public_key.allow_credentials = self
                .credentials
                .iter()
                .map(|(id, _)| AllowCredentials {
                    type_: "public-key".into(),
                    id: id.clone().into(),
                    transports: None,
                })
                .collect();
        }
        let mut assertion = self
            .authenticator
            .do_authentication(self.origin.clone(), options)
            .expect("the authenticator signs");
        if discoverable {
            let handle = self
                .credentials
                .iter()
                .find(|(id, _)| *id == assertion.raw_id.to_vec())
                .map(|(_, handle)| handle.clone())
                .unwrap();
            assertion.response.user_handle = Some(handle.into());
        }
        serde_json::to_value(assertion).unwrap()
    }
}
