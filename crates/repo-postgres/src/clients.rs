//! API clients (`api_clients`): the services that introspect and revoke tokens.

use async_trait::async_trait;
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
    secret_hash: Vec<u8>,
    created_at: OffsetDateTime,
    created_by: Option<Uuid>,
}

impl TryFrom<ClientRow> for ApiClient {
    type Error = RepoError;
    fn try_from(row: ClientRow) -> Result<Self, RepoError> {
        let hash: [u8; 32] = row
            .secret_hash
            .try_into()
            .map_err(|_| RepoError::other("stored client secret hash is not 32 bytes"))?;
        Ok(ApiClient {
            id: ClientId::from_uuid(row.id),
            name: ClientName::parse(&row.name)
                .map_err(|e| RepoError::other(format!("stored client name is invalid: {e}")))?,
            secret_hash: TokenHash::from_bytes(hash),
            created_at: row.created_at,
            created_by: row.created_by.map(UserId::from_uuid),
        })
    }
}

#[async_trait]
impl ApiClientRepository for PgApiClients {
    async fn create(&self, client: ApiClient) -> RepoResult<ApiClient> {
        let _query = crate::observe("api_clients", "create");
        let mut conn = self.db.conn().await?;
        let row = sqlx::query_as!(
            ClientRow,
            "INSERT INTO api_clients (id, name, secret_hash, created_by) VALUES ($1, $2, $3, $4)
             RETURNING id, name, secret_hash, created_at, created_by",
            client.id.as_uuid(),
            client.name.as_str(),
            client.secret_hash.as_bytes().as_slice(),
            client.created_by.map(|id| id.as_uuid())
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
            "SELECT id, name, secret_hash, created_at, created_by FROM api_clients WHERE id = $1",
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
            "SELECT id, name, secret_hash, created_at, created_by FROM api_clients ORDER BY id"
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
