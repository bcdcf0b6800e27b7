//! API clients: the other services of a platform, registered to call the
//! introspection (RFC 7662) and revocation (RFC 7009) endpoints. Confidential
//! clients: an id and a secret of 256 random bits, shown once, kept only as
//! its SHA-256 (a secret that strong cannot be guessed, so it needs no slow
//! hash: checking one costs a digest and a constant-time comparison).

use std::sync::Arc;

use subtle::ConstantTimeEq as _;
use time::OffsetDateTime;

use crate::audit::{Audit, AuditKind, Outcome};
use crate::client_info::ClientInfo;
use crate::error::{AuthError, Resource};
use crate::ids::{ClientId, UserId};
use crate::oidc::{RegistrationPolicy, RegistrationRequest};
use crate::ports::AuditLog;
use crate::ports::{ApiClient, ApiClientRepository, ClientName, ClientSecret};
use crate::validation::ValidationErrors;

/// Registers, lists, removes and authenticates API clients.
pub struct ClientService {
    clients: Arc<dyn ApiClientRepository>,
    audit: Audit,
    policy: RegistrationPolicy,
}

impl ClientService {
    /// `policy`: whether registered URIs may be plain http off loopback
    /// (development only), and which ID-token algorithms have a key.
    pub fn new(
        clients: Arc<dyn ApiClientRepository>,
        audit_log: Arc<dyn AuditLog>,
        policy: RegistrationPolicy,
    ) -> Self {
        Self {
            clients,
            audit: Audit::new(audit_log),
            policy,
        }
    }

    /// A registered client (through the two-tier cache).
    pub async fn find(&self, id: ClientId) -> Result<Option<ApiClient>, AuthError> {
        Ok(self.clients.find(id).await?)
    }

    /// Registers a client; its secret (none for a public client) is returned
    /// here and never again. `actor` is the admin who asked (`None`: the
    /// command line).
    pub async fn create(
        &self,
        name: &str,
        request: RegistrationRequest,
        actor: Option<UserId>,
        client: &ClientInfo,
    ) -> Result<(ApiClient, Option<ClientSecret>), AuthError> {
        let name = ClientName::parse(name);
        let registration = request.parse(self.policy.clone());
        let (name, registration) = match (name, registration) {
            (Ok(name), Ok(registration)) => (name, registration),
            (name, registration) => {
                let mut errors = ValidationErrors::new();
                if let Err(error) = name {
                    errors.push(error);
                }
                for error in registration.err().iter().flat_map(|e| e.errors()) {
                    errors.push(error.clone());
                }
                return Err(errors.into());
            }
        };
        let secret = (!registration.public).then(ClientSecret::random);
        let created = self
            .clients
            .create(ApiClient {
                id: ClientId::new(),
                name,
                secret_hash: secret.as_ref().map(ClientSecret::hash),
                created_at: OffsetDateTime::now_utc(),
                created_by: actor,
                settings: registration.settings,
            })
            .await?;
        self.audit
            .record_by(
                AuditKind::ApiClientCreated,
                Outcome::Success,
                None,
                actor,
                client,
            )
            .await;
        tracing::info!(
            client_id = %created.id,
            name = created.name.as_str(),
            public = created.is_public(),
            redirect_uris = created.settings.redirect_uris.len(),
            "client registered"
        );
        Ok((created, secret))
    }

    pub async fn list(&self) -> Result<Vec<ApiClient>, AuthError> {
        Ok(self.clients.list().await?)
    }

    /// Removes a client: its secret stops working on every instance at once.
    pub async fn delete(
        &self,
        id: ClientId,
        actor: UserId,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        if !self.clients.delete(id).await? {
            return Err(AuthError::NotFound(Resource::ApiClient));
        }
        self.audit
            .record_by(
                AuditKind::ApiClientDeleted,
                Outcome::Success,
                None,
                Some(actor),
                client,
            )
            .await;
        tracing::info!(client_id = %id, "API client deleted");
        Ok(())
    }

    /// Checks a client's credentials: `InvalidClient` for an unknown id, a
    /// malformed secret or a wrong one, alike. The stored digest comes from the
    /// two-tier cache (invalidated everywhere when the client is deleted); the
    /// secret itself is never stored, cached or logged.
    pub async fn authenticate(&self, id: &str, secret: &str) -> Result<ApiClient, AuthError> {
        let id: ClientId = id.parse().map_err(|_| AuthError::InvalidClient)?;
        let presented = ClientSecret::parse(secret).map(|s| s.hash());
        let client = self.clients.find(id).await?;
        match (client, presented) {
            (Some(client), Some(presented))
                if client.secret_hash.as_ref().is_some_and(|stored| {
                    bool::from(stored.as_bytes().ct_eq(presented.as_bytes()))
                }) =>
            {
                Ok(client)
            }
            _ => Err(AuthError::InvalidClient),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_names_are_trimmed_and_bounded() {
        assert_eq!(ClientName::parse("  billing ").unwrap().as_str(), "billing");
        assert!(ClientName::parse("   ").is_err());
        assert!(ClientName::parse(&"x".repeat(101)).is_err());
        assert!(ClientName::parse("a\u{7}b").is_err());
    }
}
