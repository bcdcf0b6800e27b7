//! Second factors (`mfa_totp`, `mfa_recovery_codes`) and the sign-ins waiting
//! for one (`mfa_challenges`). Whatever is spent — a time step, a recovery
//! code, a challenge — is spent by one conditional statement, so concurrent
//! attempts succeed once.

use async_trait::async_trait;
use domain::ports::RepoResult;
use domain::{
    Amr, TokenHash, UserId, ports::MfaChallenge, ports::MfaRepository, ports::StoredTotp,
};
use sqlx::PgConnection;
use time::OffsetDateTime;

use crate::Db;
use crate::DbResultExt as _;

#[derive(Clone)]
pub struct PgMfa {
    db: Db,
}

impl PgMfa {
    pub fn new(db: impl Into<Db>) -> Self {
        Self { db: db.into() }
    }
}

async fn insert_codes(
    conn: &mut PgConnection,
    user_id: UserId,
    codes: &[[u8; 32]],
) -> RepoResult<()> {
    sqlx::query!(
        "DELETE FROM mfa_recovery_codes WHERE user_id = $1",
        user_id.as_uuid()
    )
    .execute(&mut *conn)
    .await
    .db()?;
    let hashes: Vec<Vec<u8>> = codes.iter().map(|c| c.to_vec()).collect();
    sqlx::query!(
        "INSERT INTO mfa_recovery_codes (user_id, code_hash) SELECT $1, unnest($2::bytea[])",
        user_id.as_uuid(),
        &hashes
    )
    .execute(&mut *conn)
    .await
    .db()?;
    Ok(())
}

#[async_trait]
impl MfaRepository for PgMfa {
    async fn totp(&self, user_id: UserId) -> RepoResult<Option<StoredTotp>> {
        let _query = crate::observe("mfa", "totp");
        let mut conn = self.db.conn().await?;
        let row = sqlx::query!(
            r#"SELECT secret_sealed, confirmed_at IS NOT NULL AS "confirmed!"
               FROM mfa_totp WHERE user_id = $1"#,
            user_id.as_uuid()
        )
        .fetch_optional(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        Ok(row.map(|row| StoredTotp {
            sealed: row.secret_sealed,
            confirmed: row.confirmed,
        }))
    }

    async fn begin_totp(&self, user_id: UserId, sealed: &[u8]) -> RepoResult<bool> {
        let _query = crate::observe("mfa", "begin_totp");
        let mut conn = self.db.conn().await?;
        let done = sqlx::query!(
            "INSERT INTO mfa_totp (user_id, secret_sealed) VALUES ($1, $2)
             ON CONFLICT (user_id) DO UPDATE
                 SET secret_sealed = EXCLUDED.secret_sealed, created_at = now(), last_step = NULL
                 WHERE mfa_totp.confirmed_at IS NULL",
            user_id.as_uuid(),
            sealed
        )
        .execute(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn confirm_totp(
        &self,
        user_id: UserId,
        step: i64,
        codes: &[[u8; 32]],
    ) -> RepoResult<bool> {
        let _query = crate::observe("mfa", "confirm_totp");
        let mut tx = self.db.begin().await?;
        let done = sqlx::query!(
            "UPDATE mfa_totp SET confirmed_at = now(), last_step = $2
             WHERE user_id = $1 AND confirmed_at IS NULL",
            user_id.as_uuid(),
            step
        )
        .execute(&mut *tx)
        .await
        .db()?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        insert_codes(&mut tx, user_id, codes).await?;
        tx.commit().await.db()?;
        Ok(true)
    }

    async fn use_totp_step(&self, user_id: UserId, step: i64) -> RepoResult<bool> {
        let _query = crate::observe("mfa", "use_totp_step");
        let mut conn = self.db.conn().await?;
        let done = sqlx::query!(
            "UPDATE mfa_totp SET last_step = $2
             WHERE user_id = $1 AND confirmed_at IS NOT NULL
               AND (last_step IS NULL OR last_step < $2)",
            user_id.as_uuid(),
            step
        )
        .execute(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn disable_totp(&self, user_id: UserId) -> RepoResult<bool> {
        let _query = crate::observe("mfa", "disable_totp");
        let mut tx = self.db.begin().await?;
        let done = sqlx::query!(
            "DELETE FROM mfa_totp WHERE user_id = $1 AND confirmed_at IS NOT NULL",
            user_id.as_uuid()
        )
        .execute(&mut *tx)
        .await
        .db()?;
        insert_codes(&mut tx, user_id, &[]).await?;
        tx.commit().await.db()?;
        Ok(done.rows_affected() == 1)
    }

    async fn use_recovery_code(&self, user_id: UserId, hash: &[u8; 32]) -> RepoResult<bool> {
        let _query = crate::observe("mfa", "use_recovery_code");
        let mut conn = self.db.conn().await?;
        let done = sqlx::query!(
            "UPDATE mfa_recovery_codes SET used_at = now()
             WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
            user_id.as_uuid(),
            hash.as_slice()
        )
        .execute(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn replace_recovery_codes(&self, user_id: UserId, codes: &[[u8; 32]]) -> RepoResult<()> {
        let _query = crate::observe("mfa", "replace_recovery_codes");
        let mut tx = self.db.begin().await?;
        insert_codes(&mut tx, user_id, codes).await?;
        tx.commit().await.db()
    }

    async fn recovery_codes_left(&self, user_id: UserId) -> RepoResult<i64> {
        let _query = crate::observe("mfa", "recovery_codes_left");
        let mut conn = self.db.conn().await?;
        let result = sqlx::query_scalar!(
            r#"SELECT count(*) AS "left!" FROM mfa_recovery_codes
               WHERE user_id = $1 AND used_at IS NULL"#,
            user_id.as_uuid()
        )
        .fetch_one(&mut *conn)
        .await
        .db();
        conn.done().await?;
        result
    }

    async fn create_challenge(
        &self,
        hash: &TokenHash,
        challenge: &MfaChallenge,
        expires_at: OffsetDateTime,
    ) -> RepoResult<()> {
        let _query = crate::observe("mfa", "create_challenge");
        let amr: Vec<String> = challenge.amr.names().map(str::to_owned).collect();
        let mut conn = self.db.conn().await?;
        sqlx::query!(
            "WITH expired AS (
                 DELETE FROM mfa_challenges WHERE user_id = $2 AND expires_at < now()
             )
             INSERT INTO mfa_challenges (token_hash, user_id, amr, expires_at)
             VALUES ($1, $2, $3, $4)",
            hash.as_bytes().as_slice(),
            challenge.user_id.as_uuid(),
            &amr,
            expires_at
        )
        .execute(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        Ok(())
    }

    async fn find_challenge(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> RepoResult<Option<MfaChallenge>> {
        let _query = crate::observe("mfa", "find_challenge");
        let mut conn = self.db.conn().await?;
        let row = sqlx::query!(
            "SELECT user_id, amr FROM mfa_challenges WHERE token_hash = $1 AND expires_at > $2",
            hash.as_bytes().as_slice(),
            now
        )
        .fetch_optional(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        Ok(row.map(|row| MfaChallenge {
            user_id: UserId::from_uuid(row.user_id),
            amr: Amr::from_names(&row.amr),
        }))
    }

    async fn attempt_challenge(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
        max_attempts: i32,
    ) -> RepoResult<Option<MfaChallenge>> {
        let _query = crate::observe("mfa", "attempt_challenge");
        let mut conn = self.db.conn().await?;
        let row = sqlx::query!(
            "UPDATE mfa_challenges SET attempts = attempts + 1
             WHERE token_hash = $1 AND expires_at > $2 AND attempts < $3
             RETURNING user_id, amr",
            hash.as_bytes().as_slice(),
            now,
            max_attempts
        )
        .fetch_optional(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        Ok(row.map(|row| MfaChallenge {
            user_id: UserId::from_uuid(row.user_id),
            amr: Amr::from_names(&row.amr),
        }))
    }

    async fn remove_all_factors(&self, user_id: UserId) -> RepoResult<u64> {
        let _query = crate::observe("mfa", "remove_all_factors");
        let mut tx = self.db.begin().await?;
        let removed = delete_factors(&mut tx, user_id).await?;
        tx.commit().await.db()?;
        Ok(removed)
    }

    async fn take_challenge(&self, hash: &TokenHash) -> RepoResult<bool> {
        let _query = crate::observe("mfa", "take_challenge");
        let mut conn = self.db.conn().await?;
        let done = sqlx::query!(
            "DELETE FROM mfa_challenges WHERE token_hash = $1 AND expires_at > now()",
            hash.as_bytes().as_slice()
        )
        .execute(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn purge_challenges(&self, before: OffsetDateTime) -> RepoResult<u64> {
        let _query = crate::observe("mfa", "purge_challenges");
        let mut conn = self.db.conn().await?;
        let done = sqlx::query!("DELETE FROM mfa_challenges WHERE expires_at < $1", before)
            .execute(&mut *conn)
            .await
            .db()?;
        conn.done().await?;
        Ok(done.rows_affected())
    }
}

/// Deletes the user's TOTP (a pending set-up too) with its recovery codes;
/// `Some(active)` when there was one.
pub(crate) async fn delete_totp(
    conn: &mut PgConnection,
    user_id: UserId,
) -> RepoResult<Option<bool>> {
    sqlx::query!(
        "DELETE FROM mfa_recovery_codes WHERE user_id = $1",
        user_id.as_uuid()
    )
    .execute(&mut *conn)
    .await
    .db()?;
    let totp = sqlx::query_scalar!(
        r#"DELETE FROM mfa_totp WHERE user_id = $1 RETURNING confirmed_at IS NOT NULL AS "active!""#,
        user_id.as_uuid()
    )
    .fetch_optional(&mut *conn)
    .await
    .db()?;
    Ok(totp)
}

/// Deletes every second factor of the user — passkeys, TOTP, recovery codes,
/// pending second steps; returns how many factors (passkeys, an active TOTP)
/// went.
pub(crate) async fn delete_factors(conn: &mut PgConnection, user_id: UserId) -> RepoResult<u64> {
    let passkeys = sqlx::query!("DELETE FROM passkeys WHERE user_id = $1", user_id.as_uuid())
        .execute(&mut *conn)
        .await
        .db()?
        .rows_affected();
    let totp = delete_totp(&mut *conn, user_id).await?;
    sqlx::query!(
        "DELETE FROM mfa_challenges WHERE user_id = $1",
        user_id.as_uuid()
    )
    .execute(&mut *conn)
    .await
    .db()?;
    Ok(passkeys + u64::from(totp == Some(true)))
}
