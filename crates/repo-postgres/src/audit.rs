//! The audit trail (`audit_events`).

use std::net::IpAddr;

use async_trait::async_trait;
use domain::ports::RepoResult;
use domain::{UserId, ports::AuditEvent, ports::AuditLog, ports::AuditRecord};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Db;
use crate::DbResultExt as _;

#[derive(Clone)]
pub struct PgAudit {
    db: Db,
}

impl PgAudit {
    pub fn new(db: impl Into<Db>) -> Self {
        Self { db: db.into() }
    }
}

#[async_trait]
impl AuditLog for PgAudit {
    async fn record(&self, event: AuditEvent) -> RepoResult<()> {
        let _query = crate::observe("audit", "record");
        let mut conn = self.db.conn().await?;
        sqlx::query!(
            "INSERT INTO audit_events (id, user_id, actor_id, event, outcome, ip, user_agent)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            Uuid::now_v7(),
            event.user_id.map(|id| id.as_uuid()),
            event.actor.map(|id| id.as_uuid()),
            event.event,
            event.outcome,
            event.ip as Option<IpAddr>,
            event.user_agent
        )
        .execute(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        Ok(())
    }

    async fn recent(&self, user_id: UserId, limit: i64) -> RepoResult<Vec<AuditRecord>> {
        let _query = crate::observe("audit", "recent");
        let mut conn = self.db.conn().await?;
        let rows = sqlx::query!(
            r#"SELECT id, event, outcome, ip AS "ip: IpAddr", user_agent, created_at FROM audit_events
             WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"#,
            user_id.as_uuid(),
            limit
        )
        .fetch_all(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        Ok(rows
            .into_iter()
            .map(|row| AuditRecord {
                id: row.id,
                event: row.event,
                outcome: row.outcome,
                ip: row.ip,
                user_agent: row.user_agent,
                created_at: row.created_at,
            })
            .collect())
    }

    async fn purge(&self, before: OffsetDateTime) -> RepoResult<u64> {
        let _query = crate::observe("audit", "purge");
        let mut conn = self.db.conn().await?;
        let done = sqlx::query!("DELETE FROM audit_events WHERE created_at < $1", before)
            .execute(&mut *conn)
            .await
            .db()?;
        conn.done().await?;
        Ok(done.rows_affected())
    }
}
