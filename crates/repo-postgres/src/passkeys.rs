//! Passkeys (`passkeys`) and WebAuthn ceremonies in flight
//! (`webauthn_challenges`, each taken by one `DELETE … RETURNING`).

use async_trait::async_trait;
use domain::ports::RepoResult;
use domain::{
    TokenHash, UserId, ports::Assertion, ports::Passkey, ports::PasskeyRepository,
    ports::PendingCeremony, ports::Purpose,
};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Db;
use crate::DbResultExt as _;

#[derive(Clone)]
pub struct PgPasskeys {
    db: Db,
}

impl PgPasskeys {
    pub fn new(db: impl Into<Db>) -> Self {
        Self { db: db.into() }
    }
}

struct PasskeyRow {
    id: Uuid,
    user_id: Uuid,
    credential_id: Vec<u8>,
    name: String,
    credential: Value,
    backup_eligible: bool,
    backup_state: bool,
    created_at: OffsetDateTime,
    last_used_at: Option<OffsetDateTime>,
}

impl From<PasskeyRow> for Passkey {
    fn from(row: PasskeyRow) -> Self {
        Passkey {
            id: row.id,
            user_id: UserId::from_uuid(row.user_id),
            credential_id: row.credential_id,
            name: row.name,
            data: row.credential,
            backup_eligible: row.backup_eligible,
            backup_state: row.backup_state,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
        }
    }
}

struct CeremonyRow {
    user_id: Option<Uuid>,
    state: Value,
}

impl From<CeremonyRow> for PendingCeremony {
    fn from(row: CeremonyRow) -> Self {
        PendingCeremony {
            user_id: row.user_id.map(UserId::from_uuid),
            state: row.state,
        }
    }
}

#[async_trait]
impl PasskeyRepository for PgPasskeys {
    async fn list(&self, user_id: UserId) -> RepoResult<Vec<Passkey>> {
        let _query = crate::observe("passkeys", "list");
        let mut conn = self.db.conn().await?;
        let rows = sqlx::query_as!(
            PasskeyRow,
            "SELECT id, user_id, credential_id, name, credential, backup_eligible, backup_state, created_at,
                    last_used_at
             FROM passkeys WHERE user_id = $1 ORDER BY created_at",
            user_id.as_uuid()
        )
        .fetch_all(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        Ok(rows.into_iter().map(Passkey::from).collect())
    }

    async fn add(&self, passkey: &Passkey) -> RepoResult<()> {
        let _query = crate::observe("passkeys", "add");
        let mut conn = self.db.conn().await?;
        sqlx::query!(
            "INSERT INTO passkeys (id, user_id, credential_id, name, credential, backup_eligible,
                                   backup_state, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            passkey.id,
            passkey.user_id.as_uuid(),
            &passkey.credential_id,
            passkey.name,
            passkey.data,
            passkey.backup_eligible,
            passkey.backup_state,
            passkey.created_at
        )
        .execute(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        Ok(())
    }

    async fn rename(&self, user_id: UserId, id: Uuid, name: &str) -> RepoResult<Option<Passkey>> {
        let _query = crate::observe("passkeys", "rename");
        let mut conn = self.db.conn().await?;
        let row = sqlx::query_as!(
            PasskeyRow,
            "UPDATE passkeys SET name = $3 WHERE id = $1 AND user_id = $2
             RETURNING id, user_id, credential_id, name, credential, backup_eligible, backup_state, created_at,
                       last_used_at",
            id,
            user_id.as_uuid(),
            name
        )
        .fetch_optional(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        Ok(row.map(Passkey::from))
    }

    async fn delete(&self, user_id: UserId, id: Uuid) -> RepoResult<bool> {
        let _query = crate::observe("passkeys", "delete");
        let mut conn = self.db.conn().await?;
        let done = sqlx::query!(
            "DELETE FROM passkeys WHERE id = $1 AND user_id = $2",
            id,
            user_id.as_uuid()
        )
        .execute(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn used(&self, credential_id: &[u8], assertion: &Assertion) -> RepoResult<()> {
        let _query = crate::observe("passkeys", "used");
        let mut conn = self.db.conn().await?;
        sqlx::query!(
            "UPDATE passkeys SET credential = COALESCE($2, credential),
                                 backup_eligible = backup_eligible OR $3,
                                 backup_state = $4, last_used_at = now()
             WHERE credential_id = $1",
            credential_id,
            assertion.updated.as_ref(),
            assertion.backup_eligible,
            assertion.backup_state
        )
        .execute(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        Ok(())
    }

    async fn save_ceremony(
        &self,
        id: Uuid,
        purpose: Purpose,
        user_id: Option<UserId>,
        mfa_token: Option<&TokenHash>,
        state: &Value,
        expires_at: OffsetDateTime,
    ) -> RepoResult<()> {
        let _query = crate::observe("passkeys", "save_ceremony");
        let mut conn = self.db.conn().await?;
        sqlx::query!(
            "INSERT INTO webauthn_challenges (id, purpose, user_id, mfa_token_hash, state, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
            id,
            purpose.as_str(),
            user_id.map(|u| u.as_uuid()),
            mfa_token.map(|h| h.as_bytes().as_slice()),
            state,
            expires_at
        )
        .execute(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        Ok(())
    }

    async fn take_ceremony(
        &self,
        id: Uuid,
        purpose: Purpose,
    ) -> RepoResult<Option<PendingCeremony>> {
        let _query = crate::observe("passkeys", "take_ceremony");
        let mut conn = self.db.conn().await?;
        let row = sqlx::query_as!(
            CeremonyRow,
            "DELETE FROM webauthn_challenges
             WHERE id = $1 AND purpose = $2 AND expires_at > now()
             RETURNING user_id, state",
            id,
            purpose.as_str()
        )
        .fetch_optional(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        Ok(row.map(PendingCeremony::from))
    }

    async fn take_mfa_ceremony(
        &self,
        mfa_token: &TokenHash,
    ) -> RepoResult<Option<PendingCeremony>> {
        let _query = crate::observe("passkeys", "take_mfa_ceremony");
        let mut conn = self.db.conn().await?;
        let row = sqlx::query_as!(
            CeremonyRow,
            "DELETE FROM webauthn_challenges
             WHERE id = (SELECT id FROM webauthn_challenges
                         WHERE mfa_token_hash = $1 AND purpose = 'mfa' AND expires_at > now()
                         ORDER BY created_at DESC LIMIT 1)
             RETURNING user_id, state",
            mfa_token.as_bytes().as_slice()
        )
        .fetch_optional(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        Ok(row.map(PendingCeremony::from))
    }

    async fn purge_ceremonies(&self, before: OffsetDateTime) -> RepoResult<u64> {
        let _query = crate::observe("passkeys", "purge_ceremonies");
        let mut conn = self.db.conn().await?;
        let done = sqlx::query!(
            "DELETE FROM webauthn_challenges WHERE expires_at < $1",
            before
        )
        .execute(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        Ok(done.rows_affected())
    }
}
