use async_trait::async_trait;
use domain::ports::RepoResult;
use domain::{
    ProviderName, UserId, error::RepoError, ports::OAuthAccountRepository, user::NewOAuthAccount,
    user::OAuthAccount,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Db;
use crate::DbResultExt as _;

struct OAuthRow {
    user_id: Uuid,
    provider: String,
    subject: String,
    email: Option<String>,
    created_at: OffsetDateTime,
}

impl TryFrom<OAuthRow> for OAuthAccount {
    type Error = RepoError;
    fn try_from(row: OAuthRow) -> Result<Self, RepoError> {
        Ok(OAuthAccount {
            user_id: UserId::from_uuid(row.user_id),
            provider: crate::stored_provider(&row.provider)?,
            subject: row.subject,
            email: row.email,
            created_at: row.created_at,
        })
    }
}

#[derive(Clone)]
pub struct PgOAuthAccounts {
    db: Db,
}

impl PgOAuthAccounts {
    pub fn new(db: impl Into<Db>) -> Self {
        Self { db: db.into() }
    }
}

#[async_trait]
impl OAuthAccountRepository for PgOAuthAccounts {
    async fn find_by_subject(
        &self,
        provider: &ProviderName,
        subject: &str,
    ) -> RepoResult<Option<OAuthAccount>> {
        let _query = crate::observe("oauth", "find_by_subject");
        let mut conn = self.db.conn().await?;
        let row = sqlx::query_as!(
            OAuthRow,
            "SELECT user_id, provider, subject, email, created_at
             FROM oauth_accounts WHERE provider = $1 AND subject = $2",
            provider.as_str(),
            subject
        )
        .fetch_optional(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        row.map(OAuthAccount::try_from).transpose()
    }

    async fn find_by_user_and_provider(
        &self,
        user_id: UserId,
        provider: &ProviderName,
    ) -> RepoResult<Option<OAuthAccount>> {
        let _query = crate::observe("oauth", "find_by_user_and_provider");
        let mut conn = self.db.conn().await?;
        let row = sqlx::query_as!(
            OAuthRow,
            "SELECT user_id, provider, subject, email, created_at
             FROM oauth_accounts WHERE user_id = $1 AND provider = $2",
            user_id.as_uuid(),
            provider.as_str()
        )
        .fetch_optional(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        row.map(OAuthAccount::try_from).transpose()
    }

    async fn list_for_user(&self, user_id: UserId) -> RepoResult<Vec<OAuthAccount>> {
        let _query = crate::observe("oauth", "list_for_user");
        let mut conn = self.db.conn().await?;
        let rows = sqlx::query_as!(
            OAuthRow,
            "SELECT user_id, provider, subject, email, created_at
             FROM oauth_accounts WHERE user_id = $1 ORDER BY provider",
            user_id.as_uuid()
        )
        .fetch_all(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        rows.into_iter().map(OAuthAccount::try_from).collect()
    }

    async fn link(&self, account: NewOAuthAccount) -> RepoResult<OAuthAccount> {
        let _query = crate::observe("oauth", "link");
        let mut conn = self.db.conn().await?;
        let row = sqlx::query_as!(
            OAuthRow,
            "INSERT INTO oauth_accounts (user_id, provider, subject, email)
             VALUES ($1, $2, $3, $4) RETURNING user_id, provider, subject, email, created_at",
            account.user_id.as_uuid(),
            account.provider.as_str(),
            account.subject,
            account.email.as_deref()
        )
        .fetch_one(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        row.try_into()
    }

    async fn unlink(&self, user_id: UserId, provider: &ProviderName) -> RepoResult<bool> {
        let _query = crate::observe("oauth", "unlink");
        let mut conn = self.db.conn().await?;
        let result = sqlx::query!(
            "DELETE FROM oauth_accounts WHERE user_id = $1 AND provider = $2",
            user_id.as_uuid(),
            provider.as_str()
        )
        .execute(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        Ok(result.rows_affected() == 1)
    }
}
