//! API clients (`api_clients`): the services that introspect and revoke tokens.

use async_trait::async_trait;
use domain::oidc::{ClientSettings, RegisteredUri, Scope, Scopes, UriPolicy};
use domain::ports::RepoResult;
use domain::{
    ClientId, ClientName, TokenHash, UserId, error::RepoError, ports::ApiClient,
    ports::ApiClientRepository,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Db;
use crate::DbResultExt as _;

#[derive(Clone)]
pub struct PgApiClients {
    db: Db,
}

impl PgApiClients {
    pub fn new(db: impl Into<Db>) -> Self {
        Self { db: db.into() }
    }
}

struct ClientRow {
    id: Uuid,
    name: String,
    secret_hash: Option<Vec<u8>>,
    created_at: OffsetDateTime,
    created_by: Option<Uuid>,
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    backchannel_logout_uri: Option<String>,
    first_party: bool,
    scopes: Vec<String>,
    id_token_alg: String,
}

/// Stored values were checked at registration; one that no longer parses is
/// corruption, not a refusal.
fn stored_uri(raw: &str) -> Result<RegisteredUri, RepoError> {
    RegisteredUri::parse(raw, UriPolicy::AllowHttp)
        .map_err(|why| RepoError::other(format!("stored client URI {why}")))
}

impl TryFrom<ClientRow> for ApiClient {
    type Error = RepoError;
    fn try_from(row: ClientRow) -> Result<Self, RepoError> {
        let secret_hash = row
            .secret_hash
            .map(|hash| {
                <[u8; 32]>::try_from(hash)
                    .map(TokenHash::from_bytes)
                    .map_err(|_| RepoError::other("stored client secret hash is not 32 bytes"))
            })
            .transpose()?;
        let uris = |raw: &[String]| -> Result<Vec<_>, RepoError> {
            raw.iter().map(|uri| stored_uri(uri)).collect()
        };
        let mut scopes = Scopes::none();
        for name in &row.scopes {
            scopes.insert(
                name.parse::<Scope>()
                    .map_err(|()| RepoError::other("stored client scope is unknown"))?,
            );
        }
        Ok(ApiClient {
            id: ClientId::from_uuid(row.id),
            name: ClientName::parse(&row.name)
                .map_err(|e| RepoError::other(format!("stored client name is invalid: {e}")))?,
            secret_hash,
            created_at: row.created_at,
            created_by: row.created_by.map(UserId::from_uuid),
            settings: ClientSettings {
                redirect_uris: uris(&row.redirect_uris)?,
                post_logout_redirect_uris: uris(&row.post_logout_redirect_uris)?,
                backchannel_logout_uri: row
                    .backchannel_logout_uri
                    .as_deref()
                    .map(stored_uri)
                    .transpose()?,
                first_party: row.first_party,
                scopes,
                id_token_algorithm: row
                    .id_token_alg
                    .parse()
                    .map_err(|()| RepoError::other("stored ID token algorithm is unknown"))?,
            },
        })
    }
}

#[async_trait]
impl ApiClientRepository for PgApiClients {
    async fn create(&self, client: ApiClient) -> RepoResult<ApiClient> {
        let _query = crate::observe("api_clients", "create");
        let settings = &client.settings;
        let mut conn = self.db.conn().await?;
        let row = sqlx::query_as!(
            ClientRow,
            "INSERT INTO api_clients (id, name, secret_hash, created_by, redirect_uris,
                    post_logout_redirect_uris, backchannel_logout_uri, first_party, scopes,
                    id_token_alg)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             RETURNING id, name, secret_hash, created_at, created_by, redirect_uris,
                    post_logout_redirect_uris, backchannel_logout_uri, first_party, scopes,
                    id_token_alg",
            client.id.as_uuid(),
            client.name.as_str(),
            client.secret_hash.as_ref().map(|h| h.as_bytes().as_slice()),
            client.created_by.map(|id| id.as_uuid()),
            &RegisteredUri::strings(&settings.redirect_uris),
            &RegisteredUri::strings(&settings.post_logout_redirect_uris),
            settings
                .backchannel_logout_uri
                .as_ref()
                .map(RegisteredUri::as_str),
            settings.first_party,
            &settings.scopes.names(),
            settings.id_token_algorithm.as_str(),
        )
        .fetch_one(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        row.try_into()
    }

    async fn find(&self, id: ClientId) -> RepoResult<Option<ApiClient>> {
        let _query = crate::observe("api_clients", "find");
        let mut conn = self.db.conn().await?;
        let row = sqlx::query_as!(
            ClientRow,
            "SELECT id, name, secret_hash, created_at, created_by, redirect_uris,
                    post_logout_redirect_uris, backchannel_logout_uri, first_party, scopes,
                    id_token_alg
             FROM api_clients WHERE id = $1",
            id.as_uuid()
        )
        .fetch_optional(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        row.map(ApiClient::try_from).transpose()
    }

    async fn list(&self) -> RepoResult<Vec<ApiClient>> {
        let _query = crate::observe("api_clients", "list");
        let mut conn = self.db.conn().await?;
        let rows = sqlx::query_as!(
            ClientRow,
            "SELECT id, name, secret_hash, created_at, created_by, redirect_uris,
                    post_logout_redirect_uris, backchannel_logout_uri, first_party, scopes,
                    id_token_alg
             FROM api_clients ORDER BY id"
        )
        .fetch_all(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        rows.into_iter().map(ApiClient::try_from).collect()
    }

    async fn delete(&self, id: ClientId) -> RepoResult<bool> {
        let _query = crate::observe("api_clients", "delete");
        let mut conn = self.db.conn().await?;
        let deleted = sqlx::query!("DELETE FROM api_clients WHERE id = $1", id.as_uuid())
            .execute(&mut *conn)
            .await
            .db()?;
        conn.done().await?;
        Ok(deleted.rows_affected() > 0)
    }
}
