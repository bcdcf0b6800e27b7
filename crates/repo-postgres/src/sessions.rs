use std::net::IpAddr;

use async_trait::async_trait;
use domain::oidc::{Scope, Scopes};
use domain::ports::RepoResult;
use domain::{
    Amr, ClientId, SessionId, TokenHash, UserId, ports::SessionRepository, user::ClientSession,
    user::NewSession, user::RotateOutcome, user::Session,
};
use sqlx::{PgConnection, Postgres, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Db;
use crate::DbResultExt as _;

pub(crate) struct SessionRow {
    pub(crate) id: Uuid,
    pub(crate) user_id: Uuid,
    pub(crate) refresh_token_hash: Vec<u8>,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) expires_at: OffsetDateTime,
    pub(crate) last_used_at: OffsetDateTime,
    pub(crate) revoked_at: Option<OffsetDateTime>,
    pub(crate) user_agent: Option<String>,
    pub(crate) ip: Option<IpAddr>,
    pub(crate) amr: Vec<String>,
    pub(crate) client_id: Option<Uuid>,
    pub(crate) parent_id: Option<Uuid>,
    pub(crate) scopes: Option<Vec<String>>,
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
            ip: row.ip,
            amr: Amr::from_names(&row.amr),
            client: match (row.client_id, row.parent_id, row.scopes) {
                (Some(client_id), Some(parent_id), Some(scopes)) => Some(ClientSession {
                    client_id: ClientId::from_uuid(client_id),
                    parent_id: SessionId::from_uuid(parent_id),
                    scopes: stored_scopes(&scopes),
                }),
                _ => None,
            },
        }
    }
}

/// Scopes as stored: written from `Scopes` only, so an unknown name (from a
/// later version) grants nothing.
pub(crate) fn stored_scopes(names: &[String]) -> Scopes {
    names
        .iter()
        .filter_map(|n| n.parse::<Scope>().ok())
        .collect()
}

pub(crate) async fn insert_session(
    tx: &mut Transaction<'_, Postgres>,
    session: &NewSession,
) -> RepoResult<Session> {
    let row = sqlx::query_as!(
        SessionRow,
        r#"INSERT INTO sessions (id, user_id, refresh_token_hash, expires_at, user_agent, ip, amr,
                                client_id, parent_id, scopes)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           RETURNING id, user_id, refresh_token_hash, created_at, expires_at, last_used_at,
                     revoked_at, user_agent, ip AS "ip: IpAddr", amr, client_id, parent_id, scopes"#,
        session.id.as_uuid(),
        session.user_id.as_uuid(),
        session.refresh_token_hash.as_bytes().as_slice(),
        session.expires_at,
        session.user_agent.as_deref(),
        session.ip as Option<IpAddr>,
        &session.amr.names().map(str::to_owned).collect::<Vec<_>>(),
        session.client.map(|c| c.client_id.as_uuid()),
        session.client.map(|c| c.parent_id.as_uuid()),
        session.client.map(|c| c.scopes.names()) as Option<Vec<String>>
    )
    .fetch_one(&mut **tx)
    .await
    .db()?;
    Ok(row.into())
}

#[derive(Clone)]
pub struct PgSessions {
    db: Db,
}

impl PgSessions {
    pub fn new(db: impl Into<Db>) -> Self {
        Self { db: db.into() }
    }
}

#[async_trait]
impl SessionRepository for PgSessions {
    async fn create(&self, session: NewSession) -> RepoResult<Session> {
        let _query = crate::observe("sessions", "create");
        let mut tx = self.db.begin().await?;
        let session = insert_session(&mut tx, &session).await?;
        tx.commit().await.db()?;
        Ok(session)
    }

    async fn find_by_id(&self, id: SessionId) -> RepoResult<Option<Session>> {
        let _query = crate::observe("sessions", "find_by_id");
        let mut conn = self.db.conn().await?;
        let row = sqlx::query_as!(
            SessionRow,
            r#"SELECT id, user_id, refresh_token_hash, created_at, expires_at, last_used_at,
                      revoked_at, user_agent, ip AS "ip: IpAddr", amr, client_id, parent_id, scopes
               FROM sessions WHERE id = $1"#,
            id.as_uuid()
        )
        .fetch_optional(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        Ok(row.map(Session::from))
    }

    async fn list_active(&self, user_id: UserId, now: OffsetDateTime) -> RepoResult<Vec<Session>> {
        let _query = crate::observe("sessions", "list_active");
        let mut conn = self.db.conn().await?;
        let rows = sqlx::query_as!(
            SessionRow,
            r#"SELECT id, user_id, refresh_token_hash, created_at, expires_at, last_used_at,
                      revoked_at, user_agent, ip AS "ip: IpAddr", amr, client_id, parent_id, scopes
               FROM sessions
               WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2
               ORDER BY created_at DESC"#,
            user_id.as_uuid(),
            now
        )
        .fetch_all(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        Ok(rows.into_iter().map(Session::from).collect())
    }

    async fn rotate(
        &self,
        presented: &TokenHash,
        successor: &TokenHash,
        now: OffsetDateTime,
        grace: time::Duration,
        client: Option<ClientId>,
    ) -> RepoResult<RotateOutcome> {
        let _query = crate::observe("sessions", "rotate");
        let client = client.map(|id| id.as_uuid());
        let mut tx = self.db.begin().await?;

        // The current token of a session? Lock the row: a concurrent rotation of
        // the same token waits here, then no longer matches and falls through to
        // the spent-token path below.
        let current = sqlx::query_as!(
            SessionRow,
            r#"SELECT id, user_id, refresh_token_hash, created_at, expires_at, last_used_at,
                      revoked_at, user_agent, ip AS "ip: IpAddr", amr, client_id, parent_id, scopes
               FROM sessions
               WHERE refresh_token_hash = $1 AND client_id IS NOT DISTINCT FROM $2
               FOR UPDATE"#,
            presented.as_bytes().as_slice(),
            client
        )
        .fetch_optional(&mut *tx)
        .await
        .db()?;
        if let Some(row) = current {
            return rotate_current(tx, row, presented, successor, now).await;
        }
        resolve_spent(tx, presented, successor, now, grace, client).await
    }

    async fn revoke(&self, user_id: UserId, id: SessionId) -> RepoResult<Vec<SessionId>> {
        let _query = crate::observe("sessions", "revoke");
        let mut conn = self.db.conn().await?;
        // The session, then the relying parties' sessions opened from it.
        let ids = sqlx::query_scalar!(
            "WITH ended AS (
                 UPDATE sessions SET revoked_at = now(), revoked_reason = 'logout'
                 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > now()
                 RETURNING id)
             , children AS (
                 UPDATE sessions SET revoked_at = now(), revoked_reason = 'parent_ended'
                 WHERE parent_id IN (SELECT id FROM ended) AND revoked_at IS NULL
                 RETURNING id)
             SELECT id AS \"id!\" FROM ended UNION ALL SELECT id FROM children",
            id.as_uuid(),
            user_id.as_uuid()
        )
        .fetch_all(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        Ok(ids.into_iter().map(SessionId::from_uuid).collect())
    }

    async fn revoke_all(&self, user_id: UserId) -> RepoResult<Vec<SessionId>> {
        let _query = crate::observe("sessions", "revoke_all");
        let mut tx = self.db.begin().await?;
        let ids = end_every_session(&mut tx, user_id, "logout_all").await?;
        crate::recovery::void_pending_links(&mut tx, user_id).await?;
        tx.commit().await.db()?;
        Ok(ids)
    }

    async fn find_by_refresh_token(&self, hash: &TokenHash) -> RepoResult<Option<Session>> {
        let _query = crate::observe("sessions", "find_by_refresh_token");
        let mut conn = self.db.conn().await?;
        let row = sqlx::query_as!(
            SessionRow,
            r#"SELECT id, user_id, refresh_token_hash, created_at, expires_at, last_used_at,
                      revoked_at, user_agent, ip AS "ip: IpAddr", amr, client_id, parent_id, scopes
               FROM sessions WHERE refresh_token_hash = $1"#,
            hash.as_bytes().as_slice()
        )
        .fetch_optional(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        Ok(row.map(Session::from))
    }
}

/// The presented token is the session's current one (its row locked): spend it
/// and store its successor, unless the session has ended.
async fn rotate_current(
    mut tx: Transaction<'_, Postgres>,
    row: SessionRow,
    presented: &TokenHash,
    successor: &TokenHash,
    now: OffsetDateTime,
) -> RepoResult<RotateOutcome> {
    let session = Session::from(row);
    if !session.is_active(now) {
        return Ok(RotateOutcome::Inactive);
    }
    sqlx::query!(
        "INSERT INTO refresh_token_history (token_hash, session_id, rotated_at)
         VALUES ($1, $2, $3)",
        presented.as_bytes().as_slice(),
        session.id.as_uuid(),
        now
    )
    .execute(&mut *tx)
    .await
    .db()?;
    let row = sqlx::query_as!(
        SessionRow,
        r#"UPDATE sessions SET refresh_token_hash = $2, rotated_at = $3, last_used_at = $3
           WHERE id = $1
           RETURNING id, user_id, refresh_token_hash, created_at, expires_at, last_used_at,
                     revoked_at, user_agent, ip AS "ip: IpAddr", amr, client_id, parent_id, scopes"#,
        session.id.as_uuid(),
        successor.as_bytes().as_slice(),
        now
    )
    .fetch_one(&mut *tx)
    .await
    .db()?;
    tx.commit().await.db()?;
    Ok(RotateOutcome::Rotated(row.into()))
}

/// The presented token is not current: a predecessor inside the grace window
/// (a concurrent refresh), a replay (the session is revoked), or unknown.
async fn resolve_spent(
    mut tx: Transaction<'_, Postgres>,
    presented: &TokenHash,
    successor: &TokenHash,
    now: OffsetDateTime,
    grace: time::Duration,
    client: Option<Uuid>,
) -> RepoResult<RotateOutcome> {
    // A token this session already spent?
    let spent = sqlx::query!(
        "SELECT session_id, rotated_at FROM refresh_token_history WHERE token_hash = $1",
        presented.as_bytes().as_slice()
    )
    .fetch_optional(&mut *tx)
    .await
    .db()?;
    let Some(spent) = spent else {
        return Ok(RotateOutcome::NotFound);
    };
    let (session_id, rotated_at) = (spent.session_id, spent.rotated_at);
    let Some(row) = sqlx::query_as!(
        SessionRow,
        r#"SELECT id, user_id, refresh_token_hash, created_at, expires_at, last_used_at,
                  revoked_at, user_agent, ip AS "ip: IpAddr", amr, client_id, parent_id, scopes
           FROM sessions WHERE id = $1 AND client_id IS NOT DISTINCT FROM $2 FOR UPDATE"#,
        session_id,
        client
    )
    .fetch_optional(&mut *tx)
    .await
    .db()?
    else {
        return Ok(RotateOutcome::NotFound);
    };
    let is_predecessor = row.holds(successor);
    let session = Session::from(row);
    if !session.is_active(now) {
        return Ok(RotateOutcome::Inactive);
    }
    if is_predecessor && now - rotated_at <= grace {
        sqlx::query!(
            "UPDATE sessions SET last_used_at = $2 WHERE id = $1",
            session_id,
            now
        )
        .execute(&mut *tx)
        .await
        .db()?;
        tx.commit().await.db()?;
        return Ok(RotateOutcome::Grace(session));
    }
    // Reuse ends the session and the relying parties' sessions opened from it.
    let ended = sqlx::query_scalar!(
        "UPDATE sessions SET revoked_at = $2, revoked_reason = 'refresh_token_reuse'
         WHERE (id = $1 OR parent_id = $1) AND revoked_at IS NULL RETURNING id",
        session_id,
        now
    )
    .fetch_all(&mut *tx)
    .await
    .db()?;
    tx.commit().await.db()?;
    Ok(RotateOutcome::Reused {
        session_id: session.id,
        user_id: session.user_id,
        ended: ended.into_iter().map(SessionId::from_uuid).collect(),
    })
}

/// Revokes every active session of the user for `reason` (recorded in
/// `revoked_reason`); returns which, for the caches to forget.
pub(crate) async fn end_every_session(
    conn: &mut PgConnection,
    user_id: UserId,
    reason: &str,
) -> RepoResult<Vec<SessionId>> {
    let ids = sqlx::query_scalar!(
        "UPDATE sessions SET revoked_at = now(), revoked_reason = $2
         WHERE user_id = $1 AND revoked_at IS NULL RETURNING id",
        user_id.as_uuid(),
        reason
    )
    .fetch_all(conn)
    .await
    .db()?;
    Ok(ids.into_iter().map(SessionId::from_uuid).collect())
}
