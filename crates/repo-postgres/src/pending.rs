use async_trait::async_trait;
use domain::ports::RepoResult;
use domain::{Amr, TokenHash, UserId, ports::PendingLogin, ports::PendingLoginRepository};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Db;
use crate::DbResultExt as _;

/// Pending OAuth logins. Expired rows are swept on every save.
#[derive(Clone)]
pub struct PgPendingLogins {
    db: Db,
}

impl PgPendingLogins {
    pub fn new(db: impl Into<Db>) -> Self {
        Self { db: db.into() }
    }
}

struct PendingRow {
    state_hash: Vec<u8>,
    provider: String,
    pkce_verifier: String,
    nonce: Option<String>,
    browser_hash: Vec<u8>,
    redirect_to: Option<String>,
    link_user_id: Option<Uuid>,
    expires_at: OffsetDateTime,
}

fn hash32(bytes: Vec<u8>) -> RepoResult<[u8; 32]> {
    bytes
        .try_into()
        .map_err(|_| domain::error::RepoError::other("stored hash is not 32 bytes"))
}

#[async_trait]
impl PendingLoginRepository for PgPendingLogins {
    async fn save(&self, login: &PendingLogin) -> RepoResult<()> {
        let _query = crate::observe("pending_logins", "save");
        let mut tx = self.db.begin().await?;
        sqlx::query!("DELETE FROM oauth_pending_logins WHERE expires_at < now()")
            .execute(&mut *tx)
            .await
            .db()?;
        sqlx::query!(
            "INSERT INTO oauth_pending_logins
               (state_hash, provider, pkce_verifier, nonce, browser_hash, redirect_to, link_user_id, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            login.state_hash.as_slice(),
            login.provider.as_str(),
            login.pkce_verifier,
            login.nonce.as_deref(),
            login.browser_hash.as_slice(),
            login.redirect_to.as_deref(),
            login.link_user.map(|u| u.as_uuid()),
            login.expires_at
        )
        .execute(&mut *tx)
        .await
        .db()?;
        tx.commit().await.db()
    }

    async fn take(&self, state_hash: &[u8; 32]) -> RepoResult<Option<PendingLogin>> {
        let _query = crate::observe("pending_logins", "take");
        let mut conn = self.db.conn().await?;
        let row = sqlx::query_as!(
            PendingRow,
            "DELETE FROM oauth_pending_logins WHERE state_hash = $1
             RETURNING state_hash, provider, pkce_verifier, nonce, browser_hash, redirect_to, link_user_id, expires_at",
            state_hash.as_slice()
        )
        .fetch_optional(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        row.map(|row| {
            Ok(PendingLogin {
                state_hash: hash32(row.state_hash)?,
                provider: crate::stored_provider(&row.provider)?,
                pkce_verifier: row.pkce_verifier,
                nonce: row.nonce,
                browser_hash: hash32(row.browser_hash)?,
                redirect_to: row.redirect_to,
                link_user: row.link_user_id.map(UserId::from_uuid),
                expires_at: row.expires_at,
            })
        })
        .transpose()
    }

    async fn save_handoff(
        &self,
        code: &TokenHash,
        user_id: UserId,
        amr: Amr,
        expires_at: OffsetDateTime,
    ) -> RepoResult<()> {
        let _query = crate::observe("pending_logins", "save_handoff");
        let amr: Vec<String> = amr.names().map(str::to_owned).collect();
        let mut tx = self.db.begin().await?;
        sqlx::query!("DELETE FROM oauth_handoffs WHERE expires_at < now()")
            .execute(&mut *tx)
            .await
            .db()?;
        sqlx::query!(
            "INSERT INTO oauth_handoffs (code_hash, user_id, amr, expires_at) VALUES ($1, $2, $3, $4)",
            code.as_bytes().as_slice(),
            user_id.as_uuid(),
            &amr,
            expires_at
        )
        .execute(&mut *tx)
        .await
        .db()?;
        tx.commit().await.db()
    }

    async fn take_handoff(
        &self,
        code: &TokenHash,
        now: OffsetDateTime,
    ) -> RepoResult<Option<(UserId, Amr)>> {
        let _query = crate::observe("pending_logins", "take_handoff");
        let mut conn = self.db.conn().await?;
        let row = sqlx::query!(
            "DELETE FROM oauth_handoffs WHERE code_hash = $1 AND expires_at > $2
             RETURNING user_id, amr",
            code.as_bytes().as_slice(),
            now
        )
        .fetch_optional(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        Ok(row.map(|row| (UserId::from_uuid(row.user_id), Amr::from_names(&row.amr))))
    }
}
