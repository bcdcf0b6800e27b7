use async_trait::async_trait;
use domain::ports::RepoResult;
use domain::{NewOAuthAccount, OAuthAccount, OAuthAccountRepository, UserId};
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::repo_error;

const OAUTH_COLUMNS: &str = "user_id, provider, subject, email, created_at";

#[derive(sqlx::FromRow)]
struct OAuthRow {
    user_id: Uuid,
    provider: String,
    subject: String,
    email: Option<String>,
    created_at: OffsetDateTime,
}

impl From<OAuthRow> for OAuthAccount {
    fn from(row: OAuthRow) -> Self {
        OAuthAccount {
            user_id: UserId::from_uuid(row.user_id),
            provider: row.provider,
            subject: row.subject,
            email: row.email,
            created_at: row.created_at,
        }
    }
}

#[derive(Clone)]
pub struct PgOAuthAccounts {
    pool: PgPool,
}

impl PgOAuthAccounts {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl OAuthAccountRepository for PgOAuthAccounts {
    async fn find_by_subject(
        &self,
        provider: &str,
        subject: &str,
    ) -> RepoResult<Option<OAuthAccount>> {
        let _query = crate::observe("oauth", "find_by_subject");
        let sql = format!(
            "SELECT {OAUTH_COLUMNS} FROM oauth_accounts WHERE provider = $1 AND subject = $2"
        );
        let row: Option<OAuthRow> = sqlx::query_as(&sql)
            .bind(provider)
            .bind(subject)
            .fetch_optional(&self.pool)
            .await
            .map_err(repo_error)?;
        Ok(row.map(OAuthAccount::from))
    }

    async fn find_by_user_and_provider(
        &self,
        user_id: UserId,
        provider: &str,
    ) -> RepoResult<Option<OAuthAccount>> {
        let _query = crate::observe("oauth", "find_by_user_and_provider");
        let sql = format!(
            "SELECT {OAUTH_COLUMNS} FROM oauth_accounts WHERE user_id = $1 AND provider = $2"
        );
        let row: Option<OAuthRow> = sqlx::query_as(&sql)
            .bind(user_id.as_uuid())
            .bind(provider)
            .fetch_optional(&self.pool)
            .await
            .map_err(repo_error)?;
        Ok(row.map(OAuthAccount::from))
    }

    async fn list_for_user(&self, user_id: UserId) -> RepoResult<Vec<OAuthAccount>> {
        let _query = crate::observe("oauth", "list_for_user");
        let sql = format!(
            "SELECT {OAUTH_COLUMNS} FROM oauth_accounts WHERE user_id = $1 ORDER BY provider"
        );
        let rows: Vec<OAuthRow> = sqlx::query_as(&sql)
            .bind(user_id.as_uuid())
            .fetch_all(&self.pool)
            .await
            .map_err(repo_error)?;
        Ok(rows.into_iter().map(OAuthAccount::from).collect())
    }

    async fn link(&self, account: NewOAuthAccount) -> RepoResult<OAuthAccount> {
        let _query = crate::observe("oauth", "link");
        let sql = format!(
            "INSERT INTO oauth_accounts (user_id, provider, subject, email)
             VALUES ($1, $2, $3, $4) RETURNING {OAUTH_COLUMNS}"
        );
        let row: OAuthRow = sqlx::query_as(&sql)
            .bind(account.user_id.as_uuid())
            .bind(&account.provider)
            .bind(&account.subject)
            .bind(account.email.as_deref())
            .fetch_one(&self.pool)
            .await
            .map_err(repo_error)?;
        Ok(row.into())
    }

    async fn unlink(&self, user_id: UserId, provider: &str) -> RepoResult<bool> {
        let _query = crate::observe("oauth", "unlink");
        let result = sqlx::query("DELETE FROM oauth_accounts WHERE user_id = $1 AND provider = $2")
            .bind(user_id.as_uuid())
            .bind(provider)
            .execute(&self.pool)
            .await
            .map_err(repo_error)?;
        Ok(result.rows_affected() == 1)
    }
}
