//! The back-channel logout outbox (`oidc_logout_outbox`), which a trigger on
//! `sessions` fills in the transaction that ends an application's session,
//! as the background sender claims, delivers and reschedules it.

use std::time::Duration;

use async_trait::async_trait;
use domain::ports::{LogoutOutbox, QueuedLogout, RepoError, RepoResult};
use domain::{ClientId, SessionId, UserId};
use sqlx::postgres::PgListener;
use time::OffsetDateTime;

use crate::Db;
use crate::DbResultExt as _;

/// The channel the outbox's trigger notifies.
const LOGOUT_CHANNEL: &str = "oidc_logout";

/// The back-channel logout outbox, owned by the one sender of a process: its
/// listening connection goes back to the pool when the sender stops.
pub struct PgLogoutOutbox {
    db: Db,
    /// Listens for queued logouts (made on first wait; none behind a
    /// transaction pooler, which cannot carry `LISTEN`).
    listener: tokio::sync::Mutex<Option<PgListener>>,
}

impl PgLogoutOutbox {
    pub fn new(db: impl Into<Db>) -> Self {
        Self {
            db: db.into(),
            listener: tokio::sync::Mutex::new(None),
        }
    }
}

#[async_trait]
impl LogoutOutbox for PgLogoutOutbox {
    async fn claim(&self, limit: i64, lease: Duration) -> RepoResult<Vec<QueuedLogout>> {
        let _query = crate::observe("logout_outbox", "claim");
        let lease = lease.as_secs_f64();
        let mut tx = self.db.begin().await?;
        // Logouts for a client deleted since, or one without a logout URI
        // now, have nobody to go to.
        sqlx::query!(
            "DELETE FROM oidc_logout_outbox o
             WHERE failed_at IS NULL AND next_attempt_at <= now()
               AND NOT EXISTS (SELECT 1 FROM api_clients c
                               WHERE c.id = o.client_id AND c.backchannel_logout_uri IS NOT NULL)"
        )
        .execute(&mut *tx)
        .await
        .db()?;
        let rows = sqlx::query!(
            r#"WITH claimed AS (
                   UPDATE oidc_logout_outbox SET locked_until = now() + make_interval(secs => $2)
                   WHERE id IN (
                       SELECT id FROM oidc_logout_outbox
                       WHERE failed_at IS NULL AND next_attempt_at <= now()
                         AND (locked_until IS NULL OR locked_until < now())
                       ORDER BY next_attempt_at, id
                       LIMIT $1
                       FOR UPDATE SKIP LOCKED)
                   RETURNING id, attempts, client_id, user_id, sid)
               SELECT claimed.id, claimed.attempts, claimed.client_id, claimed.user_id,
                      claimed.sid, c.backchannel_logout_uri AS "uri!", c.id_token_alg
               FROM claimed JOIN api_clients c ON c.id = claimed.client_id
               ORDER BY claimed.id"#,
            limit,
            lease
        )
        .fetch_all(&mut *tx)
        .await
        .db()?;
        tx.commit().await.db()?;
        rows.into_iter()
            .map(|row| {
                Ok(QueuedLogout {
                    id: row.id,
                    attempts: row.attempts,
                    client_id: ClientId::from_uuid(row.client_id),
                    uri: row.uri,
                    algorithm: row
                        .id_token_alg
                        .parse()
                        .map_err(|()| RepoError::other("stored ID token algorithm is unknown"))?,
                    user_id: UserId::from_uuid(row.user_id),
                    sid: SessionId::from_uuid(row.sid),
                })
            })
            .collect()
    }

    async fn delivered(&self, id: i64) -> RepoResult<()> {
        let _query = crate::observe("logout_outbox", "delivered");
        let mut conn = self.db.conn().await?;
        sqlx::query!("DELETE FROM oidc_logout_outbox WHERE id = $1", id)
            .execute(&mut *conn)
            .await
            .db()?;
        conn.done().await
    }

    async fn failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<OffsetDateTime>,
    ) -> RepoResult<()> {
        let _query = crate::observe("logout_outbox", "failed");
        let mut conn = self.db.conn().await?;
        sqlx::query!(
            "UPDATE oidc_logout_outbox
             SET attempts = attempts + 1, last_error = $2, locked_until = NULL,
                 next_attempt_at = COALESCE($3, next_attempt_at),
                 failed_at = CASE WHEN $3::timestamptz IS NULL THEN now() END
             WHERE id = $1",
            id,
            error,
            retry_at
        )
        .execute(&mut *conn)
        .await
        .db()?;
        conn.done().await
    }

    async fn pending(&self) -> RepoResult<i64> {
        let _query = crate::observe("logout_outbox", "pending");
        let mut conn = self.db.conn().await?;
        let count = sqlx::query_scalar!(
            r#"SELECT count(*) AS "count!" FROM oidc_logout_outbox WHERE failed_at IS NULL"#
        )
        .fetch_one(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        Ok(count)
    }

    async fn end_expired(&self, now: OffsetDateTime) -> RepoResult<u64> {
        let _query = crate::observe("logout_outbox", "end_expired");
        let mut conn = self.db.conn().await?;
        let ended = sqlx::query!(
            "UPDATE sessions SET revoked_at = expires_at, revoked_reason = 'expired'
             WHERE client_id IS NOT NULL AND revoked_at IS NULL AND expires_at <= $1",
            now
        )
        .execute(&mut *conn)
        .await
        .db()?;
        // Given-up logouts are kept a week for inspection.
        sqlx::query!(
            "DELETE FROM oidc_logout_outbox WHERE failed_at < $1::timestamptz - interval '7 days'",
            now
        )
        .execute(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        Ok(ended.rows_affected())
    }

    async fn wait(&self, timeout: Duration) {
        if self.db.behind_transaction_pooler() {
            tokio::time::sleep(timeout).await;
            return;
        }
        let mut listener = self.listener.lock().await;
        if listener.is_none() {
            match listen(&self.db).await {
                Ok(connected) => *listener = Some(connected),
                Err(error) => {
                    tracing::warn!(error = %error, "cannot listen for queued logouts; polling");
                    drop(listener);
                    tokio::time::sleep(timeout).await;
                    return;
                }
            }
        }
        let Some(connected) = listener.as_mut() else {
            return;
        };
        match tokio::time::timeout(timeout, connected.recv()).await {
            Err(_) | Ok(Ok(_)) => {}
            Ok(Err(error)) => {
                tracing::warn!(error = %error, "the logout listener failed; reconnecting");
                *listener = None;
            }
        }
    }
}

async fn listen(db: &Db) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(db.pool()).await?;
    listener.listen(LOGOUT_CHANNEL).await?;
    Ok(listener)
}
