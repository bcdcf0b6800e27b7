//! The OpenID provider's tables: `oidc_authorization_requests`, `oidc_codes`
//! (hashes only) and `oidc_grants`; a code's redemption opens the client
//! session in the same statement that spends it. The back-channel logout
//! outbox is `logout_outbox.rs`.

use std::net::IpAddr;

use async_trait::async_trait;
use domain::ports::{
    Grant, NewCode, Prompt, ProviderRepository, Redeemed, Redemption, RepoResult, StoredRequest,
};
use domain::{ClientId, SessionId, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Db;
use crate::DbResultExt as _;
use crate::sessions::{SessionRow, stored_scopes};

#[derive(Clone)]
pub struct PgProvider {
    db: Db,
}

impl PgProvider {
    pub fn new(db: impl Into<Db>) -> Self {
        Self { db: db.into() }
    }
}

struct RequestRow {
    id: Uuid,
    client_id: Uuid,
    redirect_uri: String,
    scopes: Vec<String>,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    prompt_login: bool,
    prompt_consent: bool,
    prompt_none: bool,
    max_age: Option<i64>,
    login_hint: Option<String>,
    ui_locales: Option<String>,
    hinted_user_id: Option<Uuid>,
    acr_values: Option<String>,
    pushed: bool,
    created_at: OffsetDateTime,
    expires_at: OffsetDateTime,
}

impl From<RequestRow> for StoredRequest {
    fn from(row: RequestRow) -> Self {
        StoredRequest {
            id: row.id,
            client_id: ClientId::from_uuid(row.client_id),
            redirect_uri: row.redirect_uri,
            scopes: stored_scopes(&row.scopes),
            state: row.state,
            nonce: row.nonce,
            code_challenge: row.code_challenge,
            prompt: Prompt {
                none: row.prompt_none,
                login: row.prompt_login,
                consent: row.prompt_consent,
            },
            max_age: row.max_age,
            login_hint: row.login_hint,
            ui_locales: row.ui_locales,
            hinted_user: row.hinted_user_id.map(UserId::from_uuid),
            acr_values: row.acr_values,
            pushed: row.pushed,
            created_at: row.created_at,
            expires_at: row.expires_at,
        }
    }
}

struct GrantRow {
    user_id: Uuid,
    client_id: Uuid,
    scopes: Vec<String>,
    granted_at: OffsetDateTime,
}

impl From<GrantRow> for Grant {
    fn from(row: GrantRow) -> Self {
        Grant {
            user_id: UserId::from_uuid(row.user_id),
            client_id: ClientId::from_uuid(row.client_id),
            scopes: stored_scopes(&row.scopes),
            granted_at: row.granted_at,
        }
    }
}

#[async_trait]
impl ProviderRepository for PgProvider {
    async fn save_request(&self, request: &StoredRequest) -> RepoResult<()> {
        let _query = crate::observe("provider", "save_request");
        let mut conn = self.db.conn().await?;
        sqlx::query!(
            "INSERT INTO oidc_authorization_requests (id, client_id, redirect_uri, scopes, state,
                    nonce, code_challenge, prompt_login, prompt_consent, prompt_none, max_age,
                    login_hint, ui_locales, hinted_user_id, acr_values, pushed, created_at,
                    expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                     $18)",
            request.id,
            request.client_id.as_uuid(),
            request.redirect_uri,
            &request.scopes.names(),
            request.state,
            request.nonce,
            request.code_challenge,
            request.prompt.login,
            request.prompt.consent,
            request.prompt.none,
            request.max_age,
            request.login_hint,
            request.ui_locales,
            request.hinted_user.map(|id| id.as_uuid()),
            request.acr_values,
            request.pushed,
            request.created_at,
            request.expires_at,
        )
        .execute(&mut *conn)
        .await
        .db()?;
        conn.done().await
    }

    async fn find_request(
        &self,
        id: Uuid,
        now: OffsetDateTime,
    ) -> RepoResult<Option<StoredRequest>> {
        let _query = crate::observe("provider", "find_request");
        let mut conn = self.db.conn().await?;
        let row = sqlx::query_as!(
            RequestRow,
            "SELECT id, client_id, redirect_uri, scopes, state, nonce, code_challenge,
                    prompt_login, prompt_consent, prompt_none, max_age, login_hint, ui_locales,
                    hinted_user_id, acr_values, pushed, created_at, expires_at
             FROM oidc_authorization_requests
             WHERE id = $1 AND NOT pushed AND expires_at > $2",
            id,
            now
        )
        .fetch_optional(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        Ok(row.map(StoredRequest::from))
    }

    async fn take_pushed(
        &self,
        id: Uuid,
        client: ClientId,
        now: OffsetDateTime,
    ) -> RepoResult<Option<StoredRequest>> {
        let _query = crate::observe("provider", "take_pushed");
        let mut conn = self.db.conn().await?;
        let row = sqlx::query_as!(
            RequestRow,
            "UPDATE oidc_authorization_requests SET pushed = false
             WHERE id = $1 AND client_id = $2 AND pushed AND expires_at > $3
             RETURNING id, client_id, redirect_uri, scopes, state, nonce, code_challenge,
                    prompt_login, prompt_consent, prompt_none, max_age, login_hint, ui_locales,
                    hinted_user_id, acr_values, pushed, created_at, expires_at",
            id,
            client.as_uuid(),
            now
        )
        .fetch_optional(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        Ok(row.map(StoredRequest::from))
    }

    async fn delete_request(&self, id: Uuid) -> RepoResult<()> {
        let _query = crate::observe("provider", "delete_request");
        let mut conn = self.db.conn().await?;
        sqlx::query!("DELETE FROM oidc_authorization_requests WHERE id = $1", id)
            .execute(&mut *conn)
            .await
            .db()?;
        conn.done().await
    }

    async fn save_code(&self, code: &NewCode) -> RepoResult<()> {
        let _query = crate::observe("provider", "save_code");
        let mut conn = self.db.conn().await?;
        sqlx::query!(
            "INSERT INTO oidc_codes (code_hash, client_id, redirect_uri, code_challenge, user_id,
                    session_id, scopes, nonce, acr_requested, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            code.hash.as_bytes().as_slice(),
            code.client_id.as_uuid(),
            code.redirect_uri,
            code.code_challenge,
            code.user_id.as_uuid(),
            code.session_id.as_uuid(),
            &code.scopes.names(),
            code.nonce,
            code.acr_requested,
            code.expires_at,
        )
        .execute(&mut *conn)
        .await
        .db()?;
        conn.done().await
    }

    async fn redeem(&self, r: &Redemption) -> RepoResult<Redeemed> {
        let _query = crate::observe("provider", "redeem");
        let mut tx = self.db.begin().await?;
        // Spend the code only if everything it is bound to matches and its
        // browser session is alive, and open the client session in the same
        // statement: a second use can always find what the first opened.
        let opened = sqlx::query!(
            r#"WITH code AS (
                   UPDATE oidc_codes c SET used_at = $2, issued_session_id = $3
                   WHERE c.code_hash = $1 AND c.used_at IS NULL AND c.expires_at > $2
                     AND c.client_id = $4 AND c.redirect_uri = $5
                     AND c.code_challenge IS NOT DISTINCT FROM $6
                     AND EXISTS (SELECT 1 FROM sessions p WHERE p.id = c.session_id
                                 AND p.revoked_at IS NULL AND p.expires_at > $2)
                   RETURNING c.user_id, c.client_id, c.session_id, c.scopes, c.nonce,
                             c.acr_requested),
               parent AS (
                   SELECT p.id, p.created_at, p.expires_at, p.amr
                   FROM sessions p JOIN code ON p.id = code.session_id),
               opened AS (
                   INSERT INTO sessions (id, user_id, refresh_token_hash, expires_at, user_agent,
                                         ip, amr, client_id, parent_id, scopes)
                   SELECT $3, code.user_id, $7, parent.expires_at, $8, $9, parent.amr,
                          code.client_id, code.session_id, code.scopes
                   FROM code JOIN parent ON parent.id = code.session_id
                   RETURNING id, user_id, refresh_token_hash, created_at, expires_at,
                             last_used_at, revoked_at, user_agent, ip, amr, client_id,
                             parent_id, scopes)
               SELECT opened.id AS "id!", opened.user_id AS "user_id!",
                      opened.refresh_token_hash AS "refresh_token_hash!",
                      opened.created_at AS "created_at!", opened.expires_at AS "expires_at!",
                      opened.last_used_at AS "last_used_at!", opened.revoked_at,
                      opened.user_agent, opened.ip AS "ip: IpAddr", opened.amr AS "amr!",
                      opened.client_id, opened.parent_id, opened.scopes,
                      parent.created_at AS "signed_in_at!", code.nonce,
                      code.acr_requested AS "acr_requested!"
               FROM opened, parent, code"#,
            r.hash.as_bytes().as_slice(),
            r.now,
            r.session_id.as_uuid(),
            r.client_id.as_uuid(),
            r.redirect_uri,
            r.code_challenge,
            r.refresh_token_hash.as_bytes().as_slice(),
            r.user_agent,
            r.ip as Option<IpAddr>,
        )
        .fetch_optional(&mut *tx)
        .await
        .db()?;
        if let Some(row) = opened {
            tx.commit().await.db()?;
            let session = SessionRow {
                id: row.id,
                user_id: row.user_id,
                refresh_token_hash: row.refresh_token_hash,
                created_at: row.created_at,
                expires_at: row.expires_at,
                last_used_at: row.last_used_at,
                revoked_at: row.revoked_at,
                user_agent: row.user_agent,
                ip: row.ip,
                amr: row.amr,
                client_id: row.client_id,
                parent_id: row.parent_id,
                scopes: row.scopes,
            };
            return Ok(Redeemed::Opened {
                session: session.into(),
                signed_in_at: row.signed_in_at,
                nonce: row.nonce,
                acr_requested: row.acr_requested,
            });
        }
        // A spent code presented again: whatever its first use opened ends
        // (RFC 6749 §4.1.2), whoever presents it.
        let spent = sqlx::query_scalar!(
            "SELECT issued_session_id FROM oidc_codes WHERE code_hash = $1 AND used_at IS NOT NULL",
            r.hash.as_bytes().as_slice()
        )
        .fetch_optional(&mut *tx)
        .await
        .db()?;
        let Some(issued) = spent else {
            tx.commit().await.db()?;
            return Ok(Redeemed::Refused);
        };
        let ended = sqlx::query_scalar!(
            "UPDATE sessions SET revoked_at = $2, revoked_reason = 'authorization_code_reuse'
             WHERE (id = $1 OR parent_id = $1) AND revoked_at IS NULL RETURNING id",
            issued,
            r.now
        )
        .fetch_all(&mut *tx)
        .await
        .db()?;
        tx.commit().await.db()?;
        Ok(Redeemed::Reused {
            ended: ended.into_iter().map(SessionId::from_uuid).collect(),
        })
    }

    async fn grant(&self, user: UserId, client: ClientId) -> RepoResult<Option<Grant>> {
        let _query = crate::observe("provider", "grant");
        let mut conn = self.db.conn().await?;
        let row = sqlx::query_as!(
            GrantRow,
            "SELECT user_id, client_id, scopes, granted_at FROM oidc_grants
             WHERE user_id = $1 AND client_id = $2",
            user.as_uuid(),
            client.as_uuid()
        )
        .fetch_optional(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        Ok(row.map(Grant::from))
    }

    async fn save_grant(
        &self,
        user: UserId,
        client: ClientId,
        scopes: domain::oidc::Scopes,
    ) -> RepoResult<()> {
        let _query = crate::observe("provider", "save_grant");
        let mut conn = self.db.conn().await?;
        sqlx::query!(
            "INSERT INTO oidc_grants (user_id, client_id, scopes) VALUES ($1, $2, $3)
             ON CONFLICT (user_id, client_id) DO UPDATE
             SET scopes = ARRAY(SELECT DISTINCT unnest(oidc_grants.scopes || EXCLUDED.scopes)),
                 granted_at = now()",
            user.as_uuid(),
            client.as_uuid(),
            &scopes.names()
        )
        .execute(&mut *conn)
        .await
        .db()?;
        conn.done().await
    }

    async fn grants(&self, user: UserId) -> RepoResult<Vec<Grant>> {
        let _query = crate::observe("provider", "grants");
        let mut conn = self.db.conn().await?;
        let rows = sqlx::query_as!(
            GrantRow,
            "SELECT user_id, client_id, scopes, granted_at FROM oidc_grants
             WHERE user_id = $1 ORDER BY granted_at DESC",
            user.as_uuid()
        )
        .fetch_all(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        Ok(rows.into_iter().map(Grant::from).collect())
    }

    async fn revoke_grant(
        &self,
        user: UserId,
        client: ClientId,
    ) -> RepoResult<Option<Vec<SessionId>>> {
        let _query = crate::observe("provider", "revoke_grant");
        let mut tx = self.db.begin().await?;
        let deleted = sqlx::query!(
            "DELETE FROM oidc_grants WHERE user_id = $1 AND client_id = $2",
            user.as_uuid(),
            client.as_uuid()
        )
        .execute(&mut *tx)
        .await
        .db()?;
        if deleted.rows_affected() == 0 {
            tx.commit().await.db()?;
            return Ok(None);
        }
        let ended = sqlx::query_scalar!(
            "UPDATE sessions SET revoked_at = now(), revoked_reason = 'grant_revoked'
             WHERE user_id = $1 AND client_id = $2 AND revoked_at IS NULL RETURNING id",
            user.as_uuid(),
            client.as_uuid()
        )
        .fetch_all(&mut *tx)
        .await
        .db()?;
        tx.commit().await.db()?;
        Ok(Some(ended.into_iter().map(SessionId::from_uuid).collect()))
    }

    async fn purge_expired(&self, now: OffsetDateTime) -> RepoResult<u64> {
        let _query = crate::observe("provider", "purge_expired");
        let mut conn = self.db.conn().await?;
        let requests = sqlx::query!(
            "DELETE FROM oidc_authorization_requests WHERE expires_at <= $1",
            now
        )
        .execute(&mut *conn)
        .await
        .db()?;
        // Spent codes stay a day past their expiry, so a late replay still
        // ends what the first use opened.
        let codes = sqlx::query!(
            "DELETE FROM oidc_codes WHERE expires_at <= $1::timestamptz - interval '1 day'",
            now
        )
        .execute(&mut *conn)
        .await
        .db()?;
        let revocations = sqlx::query!(
            "DELETE FROM revoked_client_tokens WHERE expires_at <= $1",
            now
        )
        .execute(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        Ok(requests.rows_affected() + codes.rows_affected() + revocations.rows_affected())
    }

    async fn revoke_client_token(
        &self,
        jti: Uuid,
        client: ClientId,
        expires_at: OffsetDateTime,
    ) -> RepoResult<()> {
        let _query = crate::observe("provider", "revoke_client_token");
        let mut conn = self.db.conn().await?;
        sqlx::query!(
            "INSERT INTO revoked_client_tokens (jti, client_id, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT (jti) DO NOTHING",
            jti,
            client.as_uuid(),
            expires_at
        )
        .execute(&mut *conn)
        .await
        .db()?;
        conn.done().await
    }

    async fn client_token_revoked(&self, jti: Uuid) -> RepoResult<bool> {
        let _query = crate::observe("provider", "client_token_revoked");
        let mut conn = self.db.conn().await?;
        let revoked = sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM revoked_client_tokens WHERE jti = $1) AS "revoked!""#,
            jti
        )
        .fetch_one(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        Ok(revoked)
    }
}
