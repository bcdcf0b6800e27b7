use std::net::IpAddr;

use async_trait::async_trait;
use domain::ports::RepoResult;
use domain::{NewSession, RotateOutcome, Session, SessionId, SessionRepository, TokenHash, UserId};
use sqlx::{PgPool, Postgres, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::repo_error;

pub(crate) const SESSION_COLUMNS: &str = "id, user_id, refresh_token_hash, created_at, expires_at, \
     last_used_at, revoked_at, user_agent, host(ip) AS ip";

#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    id: Uuid,
    user_id: Uuid,
    refresh_token_hash: Vec<u8>,
    created_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    last_used_at: OffsetDateTime,
    revoked_at: Option<OffsetDateTime>,
    user_agent: Option<String>,
    ip: Option<String>,
}

impl SessionRow {
    fn holds(&self, hash: &TokenHash) -> bool {
        self.refresh_token_hash.as_slice() == hash.as_bytes()
    }
}

impl From<SessionRow> for Session {
    fn from(row: SessionRow) -> Self {
        Session {
            id: SessionId::from_uuid(row.id),
            user_id: UserId::from_uuid(row.user_id),
            created_at: row.created_at,
            expires_at: row.expires_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
            user_agent: row.user_agent,
            ip: row.ip.and_then(|ip| ip.parse::<IpAddr>().ok()),
        }
    }
}

pub(crate) async fn insert_session(
    tx: &mut Transaction<'_, Postgres>,
    session: &NewSession,
) -> RepoResult<Session> {
    let sql = format!(
        "INSERT INTO sessions (id, user_id, refresh_token_hash, expires_at, user_agent, ip)
         VALUES ($1, $2, $3, $4, $5, $6::inet) RETURNING {SESSION_COLUMNS}"
    );
    let row: SessionRow = sqlx::query_as(&sql)
        .bind(session.id.as_uuid())
        .bind(session.user_id.as_uuid())
        .bind(session.refresh_token_hash.as_bytes().as_slice())
        .bind(session.expires_at)
        .bind(session.user_agent.as_deref())
        .bind(session.ip.map(|ip| ip.to_string()))
        .fetch_one(&mut **tx)
        .await
        .map_err(repo_error)?;
    Ok(row.into())
}

#[derive(Clone)]
pub struct PgSessions {
    pool: PgPool,
}

impl PgSessions {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl SessionRepository for PgSessions {
    async fn create(&self, session: NewSession) -> RepoResult<Session> {
        let _query = crate::observe("sessions", "create");
        let mut tx = self.pool.begin().await.map_err(repo_error)?;
        let session = insert_session(&mut tx, &session).await?;
        tx.commit().await.map_err(repo_error)?;
        Ok(session)
    }

    async fn find_by_id(&self, id: SessionId) -> RepoResult<Option<Session>> {
        let _query = crate::observe("sessions", "find_by_id");
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1");
        let row: Option<SessionRow> = sqlx::query_as(&sql)
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(repo_error)?;
        Ok(row.map(Session::from))
    }

    async fn list_active(&self, user_id: UserId, now: OffsetDateTime) -> RepoResult<Vec<Session>> {
        let _query = crate::observe("sessions", "list_active");
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions
             WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2
             ORDER BY created_at DESC"
        );
        let rows: Vec<SessionRow> = sqlx::query_as(&sql)
            .bind(user_id.as_uuid())
            .bind(now)
            .fetch_all(&self.pool)
            .await
            .map_err(repo_error)?;
        Ok(rows.into_iter().map(Session::from).collect())
    }

    async fn rotate(
        &self,
        presented: &TokenHash,
        successor: &TokenHash,
        now: OffsetDateTime,
        grace: time::Duration,
    ) -> RepoResult<RotateOutcome> {
        let _query = crate::observe("sessions", "rotate");
        let mut tx = self.pool.begin().await.map_err(repo_error)?;

        // The current token of a session? Lock the row: a concurrent rotation of
        // the same token waits here, then no longer matches and falls through to
        // the spent-token path below.
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE refresh_token_hash = $1 FOR UPDATE"
        );
        let current: Option<SessionRow> = sqlx::query_as(&sql)
            .bind(presented.as_bytes().as_slice())
            .fetch_optional(&mut *tx)
            .await
            .map_err(repo_error)?;
        if let Some(row) = current {
            let session = Session::from(row);
            if !session.is_active(now) {
                return Ok(RotateOutcome::Inactive);
            }
            sqlx::query(
                "INSERT INTO refresh_token_history (token_hash, session_id, rotated_at) VALUES ($1, $2, $3)",
            )
            .bind(presented.as_bytes().as_slice())
            .bind(session.id.as_uuid())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(repo_error)?;
            let sql = format!(
                "UPDATE sessions SET refresh_token_hash = $2, rotated_at = $3, last_used_at = $3
                 WHERE id = $1 RETURNING {SESSION_COLUMNS}"
            );
            let row: SessionRow = sqlx::query_as(&sql)
                .bind(session.id.as_uuid())
                .bind(successor.as_bytes().as_slice())
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(repo_error)?;
            tx.commit().await.map_err(repo_error)?;
            return Ok(RotateOutcome::Rotated(row.into()));
        }

        // A token this session already spent?
        let spent: Option<(Uuid, OffsetDateTime)> = sqlx::query_as(
            "SELECT session_id, rotated_at FROM refresh_token_history WHERE token_hash = $1",
        )
        .bind(presented.as_bytes().as_slice())
        .fetch_optional(&mut *tx)
        .await
        .map_err(repo_error)?;
        let Some((session_id, rotated_at)) = spent else {
            return Ok(RotateOutcome::NotFound);
        };
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1 FOR UPDATE");
        let Some(row) = sqlx::query_as::<_, SessionRow>(&sql)
            .bind(session_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(repo_error)?
        else {
            return Ok(RotateOutcome::NotFound);
        };
        let is_predecessor = row.holds(successor);
        let session = Session::from(row);
        if !session.is_active(now) {
            return Ok(RotateOutcome::Inactive);
        }
        if is_predecessor && now - rotated_at <= grace {
            sqlx::query("UPDATE sessions SET last_used_at = $2 WHERE id = $1")
                .bind(session_id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(repo_error)?;
            tx.commit().await.map_err(repo_error)?;
            return Ok(RotateOutcome::Grace(session));
        }
        sqlx::query(
            "UPDATE sessions SET revoked_at = $2, revoked_reason = 'refresh_token_reuse' WHERE id = $1",
        )
        .bind(session_id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(repo_error)?;
        tx.commit().await.map_err(repo_error)?;
        Ok(RotateOutcome::Reused {
            session_id: session.id,
            user_id: session.user_id,
        })
    }

    async fn revoke(&self, user_id: UserId, id: SessionId) -> RepoResult<bool> {
        let _query = crate::observe("sessions", "revoke");
        let result = sqlx::query(
            "UPDATE sessions SET revoked_at = now(), revoked_reason = 'logout'
             WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > now()",
        )
        .bind(id.as_uuid())
        .bind(user_id.as_uuid())
        .execute(&self.pool)
        .await
        .map_err(repo_error)?;
        Ok(result.rows_affected() == 1)
    }

    async fn revoke_all(&self, user_id: UserId) -> RepoResult<Vec<SessionId>> {
        let _query = crate::observe("sessions", "revoke_all");
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "UPDATE sessions SET revoked_at = now(), revoked_reason = 'logout_all'
             WHERE user_id = $1 AND revoked_at IS NULL RETURNING id",
        )
        .bind(user_id.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(repo_error)?;
        Ok(ids.into_iter().map(SessionId::from_uuid).collect())
    }
}
