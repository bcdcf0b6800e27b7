//! Mailed tokens (`account_tokens`) and the mail outbox (`mail_outbox`): a
//! token and the mail that carries it are written in one transaction, and
//! every token is spent in the transaction that applies it.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use domain::ports::RepoResult;
use domain::{
    Email, PasswordHash, ProviderName, TokenHash, UserId, error::RepoError, mail::OutgoingMail,
    ports::AccountToken, ports::EmailConfirmed, ports::FactorRef, ports::FactorRemoved,
    ports::MailOutbox, ports::NewAccountToken, ports::PasswordReset, ports::QueuedMail,
    ports::RecoveryRepository, ports::TokenPurpose, user::User,
};
use sqlx::PgConnection;
use time::OffsetDateTime;
use tokio::sync::Notify;

use crate::Db;
use crate::DbResultExt as _;
use crate::mfa::{delete_factors, delete_totp};
use crate::sessions::end_every_session;
use crate::users::{UserRow, stored_email};

/// `RecoveryRepository` and `MailOutbox` on PostgreSQL. `queued` is notified
/// after every commit that queued a mail, so a sender in this process wakes at
/// once (others find it on their next poll).
#[derive(Clone)]
pub struct PgRecovery {
    db: Db,
    queued: Arc<Notify>,
}

impl PgRecovery {
    pub fn new(db: impl Into<Db>) -> Self {
        Self {
            db: db.into(),
            queued: Arc::new(Notify::new()),
        }
    }

    /// Notified whenever this process queued a mail.
    pub fn queued(&self) -> Arc<Notify> {
        Arc::clone(&self.queued)
    }
}

async fn enqueue(conn: &mut PgConnection, mail: &OutgoingMail) -> RepoResult<()> {
    let message = serde_json::to_value(mail).map_err(RepoError::other)?;
    sqlx::query!(
        "INSERT INTO mail_outbox (recipient, message) VALUES ($1, $2)",
        mail.to.as_str(),
        message
    )
    .execute(conn)
    .await
    .db()?;
    Ok(())
}

/// Spends a usable token of one of `purposes`; returns its owner and address.
async fn spend(
    conn: &mut PgConnection,
    token: &TokenHash,
    purposes: &[TokenPurpose],
    now: OffsetDateTime,
) -> RepoResult<Option<(UserId, TokenPurpose, Email)>> {
    let purposes: Vec<&str> = purposes.iter().map(|p| p.as_str()).collect();
    let row = sqlx::query!(
        "UPDATE account_tokens SET used_at = $2
         WHERE token_hash = $1 AND purpose = ANY($3) AND used_at IS NULL AND expires_at > $2
         RETURNING user_id, purpose, email",
        token.as_bytes().as_slice(),
        now,
        &purposes as &[&str]
    )
    .fetch_optional(conn)
    .await
    .db()?;
    row.map(|row| {
        Ok((
            UserId::from_uuid(row.user_id),
            stored_purpose(&row.purpose)?,
            stored_email(&row.email)?,
        ))
    })
    .transpose()
}

/// Voids every outstanding reset and email-change link of the user: what
/// ends sessions (a reset, a password change, signing out everywhere) also
/// ends the links someone with one of those sessions may have requested —
/// an email change requested by a thief must not survive the owner's
/// recovery.
pub(crate) async fn void_pending_links(conn: &mut PgConnection, user_id: UserId) -> RepoResult<()> {
    sqlx::query!(
        "DELETE FROM account_tokens
         WHERE user_id = $1 AND used_at IS NULL AND purpose IN ('password_reset', 'email_change')",
        user_id.as_uuid()
    )
    .execute(conn)
    .await
    .db()?;
    Ok(())
}

/// The first proof that the account's owner holds its address (the first
/// verification, or a reset of an unverified account): whatever was attached
/// to the account before it — passkeys, TOTP, recovery codes, pending second
/// steps, provider links — may be a squatter's who registered the address
/// first (pre-account hijacking), so it goes. Nothing of the kind can be
/// added to an unverified account any more; this also ends what older
/// versions allowed. Returns the providers unlinked.
async fn purge_before_first_proof(
    conn: &mut PgConnection,
    user_id: UserId,
) -> RepoResult<Vec<ProviderName>> {
    delete_factors(&mut *conn, user_id).await?;
    let providers = sqlx::query_scalar!(
        "DELETE FROM oauth_accounts WHERE user_id = $1 RETURNING provider",
        user_id.as_uuid()
    )
    .fetch_all(&mut *conn)
    .await
    .db()?;
    providers
        .iter()
        .map(|provider| crate::stored_provider(provider))
        .collect()
}

fn stored_purpose(raw: &str) -> RepoResult<TokenPurpose> {
    TokenPurpose::parse(raw).ok_or_else(|| RepoError::other("stored token purpose is invalid"))
}

#[async_trait]
impl RecoveryRepository for PgRecovery {
    async fn issue(&self, token: NewAccountToken, mail: OutgoingMail) -> RepoResult<()> {
        let _query = crate::observe("recovery", "issue");
        let mut tx = self.db.begin().await?;
        // A new link voids the earlier ones of its purpose; a removal link
        // names its own factor and voids nothing.
        if token.purpose != TokenPurpose::FactorRemoval {
            sqlx::query!(
                "DELETE FROM account_tokens WHERE user_id = $1 AND purpose = $2",
                token.user_id.as_uuid(),
                token.purpose.as_str()
            )
            .execute(&mut *tx)
            .await
            .db()?;
        }
        sqlx::query!(
            "INSERT INTO account_tokens (token_hash, user_id, purpose, email, expires_at, factor)
             VALUES ($1, $2, $3, $4, $5, $6)",
            token.hash.as_bytes().as_slice(),
            token.user_id.as_uuid(),
            token.purpose.as_str(),
            token.email.as_str(),
            token.expires_at,
            token.factor.map(FactorRef::to_stored)
        )
        .execute(&mut *tx)
        .await
        .db()?;
        enqueue(&mut tx, &mail).await?;
        tx.commit().await.db()?;
        self.queued.notify_one();
        Ok(())
    }

    async fn enqueue(&self, mail: OutgoingMail) -> RepoResult<()> {
        let _query = crate::observe("recovery", "enqueue");
        let mut conn = self.db.conn().await?;
        enqueue(&mut conn, &mail).await?;
        conn.done().await?;
        self.queued.notify_one();
        Ok(())
    }

    async fn find(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> RepoResult<Option<AccountToken>> {
        let _query = crate::observe("recovery", "find");
        let mut conn = self.db.conn().await?;
        let row = sqlx::query!(
            "SELECT user_id, purpose, email FROM account_tokens
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
            hash.as_bytes().as_slice(),
            now
        )
        .fetch_optional(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        row.map(|row| {
            Ok(AccountToken {
                user_id: UserId::from_uuid(row.user_id),
                purpose: stored_purpose(&row.purpose)?,
                email: stored_email(&row.email)?,
            })
        })
        .transpose()
    }

    async fn reset_password(
        &self,
        token: &TokenHash,
        user_id: UserId,
        hash: &PasswordHash,
        now: OffsetDateTime,
    ) -> RepoResult<Option<PasswordReset>> {
        let _query = crate::observe("recovery", "reset_password");
        let mut tx = self.db.begin().await?;
        let spent = spend(&mut tx, token, &[TokenPurpose::PasswordReset], now).await?;
        if spent.as_ref().map(|(owner, ..)| *owner) != Some(user_id) {
            return Ok(None);
        }
        // A reset proves the mailbox: the address is verified from now on,
        // and on an unverified account that is the first proof.
        let row = sqlx::query!(
            r#"UPDATE users u SET password_hash = $2, email_verified = true, updated_at = now()
               FROM (SELECT email_verified FROM users WHERE id = $1 FOR UPDATE) before
               WHERE u.id = $1
               RETURNING u.email, before.email_verified AS "was_verified!""#,
            user_id.as_uuid(),
            hash.expose_phc()
        )
        .fetch_optional(&mut *tx)
        .await
        .db()?;
        let Some(row) = row else { return Ok(None) };
        let email = row.email;
        let unlinked = if row.was_verified {
            Vec::new()
        } else {
            purge_before_first_proof(&mut tx, user_id).await?
        };
        void_pending_links(&mut tx, user_id).await?;
        let revoked = end_every_session(&mut tx, user_id, "password_reset").await?;
        tx.commit().await.db()?;
        Ok(Some(PasswordReset {
            user_id,
            email: stored_email(&email)?,
            revoked,
            unlinked,
        }))
    }

    async fn confirm_email(
        &self,
        token: &TokenHash,
        now: OffsetDateTime,
    ) -> RepoResult<Option<EmailConfirmed>> {
        let _query = crate::observe("recovery", "confirm_email");
        let mut tx = self.db.begin().await?;
        let purposes = [TokenPurpose::EmailVerify, TokenPurpose::EmailChange];
        let Some((user_id, purpose, address)) = spend(&mut tx, token, &purposes, now).await? else {
            return Ok(None);
        };
        let before = sqlx::query!(
            "SELECT email, email_verified FROM users WHERE id = $1 FOR UPDATE",
            user_id.as_uuid()
        )
        .fetch_optional(&mut *tx)
        .await
        .db()?;
        let Some(before) = before else {
            return Ok(None);
        };
        let previous = stored_email(&before.email)?;
        let changing = purpose == TokenPurpose::EmailChange;
        // A verification proves the address it was sent to: once the account
        // moved to another address, it proves nothing.
        if !changing && previous != address {
            return Ok(None);
        }
        let row = sqlx::query_as!(
            UserRow,
            r#"UPDATE users SET email = $2, email_verified = true, updated_at = now() WHERE id = $1
               RETURNING id, email, name, email_verified, created_at, updated_at,
                         user_roles_of(users.id) AS "roles!",
                       disabled_at IS NOT NULL AS "disabled!""#,
            user_id.as_uuid(),
            address.as_str()
        )
        .fetch_one(&mut *tx)
        .await
        .db()?;
        let user = User::try_from(row)?;
        // The first proof that the owner holds the address the account was
        // registered with: what was attached before may be a squatter's, and
        // so may every session. (A change proves only the new address, to
        // whoever holds the session that asked for it.)
        let (revoked, unlinked) = if before.email_verified || changing {
            (Vec::new(), Vec::new())
        } else {
            let unlinked = purge_before_first_proof(&mut tx, user_id).await?;
            let revoked = end_every_session(&mut tx, user_id, "email_verified").await?;
            (revoked, unlinked)
        };
        let previous_email = if changing && previous != address {
            // Every link mailed to the old address stops working.
            sqlx::query!(
                "DELETE FROM account_tokens WHERE user_id = $1 AND used_at IS NULL",
                user_id.as_uuid()
            )
            .execute(&mut *tx)
            .await
            .db()?;
            enqueue(&mut tx, &OutgoingMail::email_changed(&user, &previous)).await?;
            Some(previous)
        } else {
            None
        };
        tx.commit().await.db()?;
        if previous_email.is_some() {
            self.queued.notify_one();
        }
        Ok(Some(EmailConfirmed {
            user,
            previous_email,
            revoked,
            unlinked,
        }))
    }

    async fn remove_factor(
        &self,
        token: &TokenHash,
        now: OffsetDateTime,
    ) -> RepoResult<Option<FactorRemoved>> {
        let _query = crate::observe("recovery", "remove_factor");
        let mut tx = self.db.begin().await?;
        let row = sqlx::query!(
            "UPDATE account_tokens SET used_at = $2
             WHERE token_hash = $1 AND purpose = 'factor_removal' AND used_at IS NULL
               AND expires_at > $2
             RETURNING user_id, factor",
            token.as_bytes().as_slice(),
            now
        )
        .fetch_optional(&mut *tx)
        .await
        .db()?;
        let Some(row) = row else { return Ok(None) };
        let user_id = UserId::from_uuid(row.user_id);
        let factor = row
            .factor
            .as_deref()
            .and_then(FactorRef::parse)
            .ok_or_else(|| RepoError::other("stored factor of a removal link is invalid"))?;
        let removed = match factor {
            FactorRef::Totp => delete_totp(&mut tx, user_id).await?.is_some(),
            FactorRef::Passkey(id) => {
                sqlx::query!(
                    "DELETE FROM passkeys WHERE user_id = $1 AND id = $2",
                    user_id.as_uuid(),
                    id
                )
                .execute(&mut *tx)
                .await
                .db()?
                .rows_affected()
                    > 0
            }
        };
        let email = sqlx::query_scalar!("SELECT email FROM users WHERE id = $1", user_id.as_uuid())
            .fetch_one(&mut *tx)
            .await
            .db()?;
        let revoked = end_every_session(&mut tx, user_id, "factor_removed").await?;
        tx.commit().await.db()?;
        Ok(Some(FactorRemoved {
            user_id,
            email: stored_email(&email)?,
            factor,
            removed,
            revoked,
        }))
    }
}

#[async_trait]
impl MailOutbox for PgRecovery {
    async fn claim(&self, limit: i64, lease: Duration) -> RepoResult<Vec<QueuedMail>> {
        let _query = crate::observe("outbox", "claim");
        let lease = lease.as_secs_f64();
        let mut conn = self.db.conn().await?;
        let rows = sqlx::query!(
            "UPDATE mail_outbox SET locked_until = now() + make_interval(secs => $2)
             WHERE id IN (
                 SELECT id FROM mail_outbox
                 WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= now()
                   AND (locked_until IS NULL OR locked_until < now())
                 ORDER BY next_attempt_at, id
                 LIMIT $1
                 FOR UPDATE SKIP LOCKED)
             RETURNING id, attempts, message",
            limit,
            lease
        )
        .fetch_all(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in rows {
            let mail = row
                .message
                .map(serde_json::from_value::<OutgoingMail>)
                .transpose()
                .map_err(RepoError::other)?;
            match mail {
                Some(mail) => claimed.push(QueuedMail {
                    id: row.id,
                    attempts: row.attempts,
                    mail,
                }),
                None => self.failed(row.id, "the message is gone", None).await?,
            }
        }
        Ok(claimed)
    }

    async fn sent(&self, id: i64) -> RepoResult<()> {
        let _query = crate::observe("outbox", "sent");
        let mut conn = self.db.conn().await?;
        sqlx::query!(
            "UPDATE mail_outbox
             SET sent_at = now(), message = NULL, locked_until = NULL, attempts = attempts + 1
             WHERE id = $1",
            id
        )
        .execute(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        Ok(())
    }

    async fn failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<OffsetDateTime>,
    ) -> RepoResult<()> {
        let _query = crate::observe("outbox", "failed");
        let mut conn = self.db.conn().await?;
        sqlx::query!(
            "UPDATE mail_outbox
             SET attempts = attempts + 1, last_error = $2, locked_until = NULL,
                 next_attempt_at = COALESCE($3, next_attempt_at),
                 failed_at = CASE WHEN $3::timestamptz IS NULL THEN now() END,
                 message = CASE WHEN $3::timestamptz IS NULL THEN NULL ELSE message END
             WHERE id = $1",
            id,
            error,
            retry_at
        )
        .execute(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        Ok(())
    }

    async fn pending(&self) -> RepoResult<i64> {
        let _query = crate::observe("outbox", "pending");
        let mut conn = self.db.conn().await?;
        let count = sqlx::query_scalar!(
            r#"SELECT count(*) AS "count!" FROM mail_outbox WHERE sent_at IS NULL AND failed_at IS NULL"#
        )
        .fetch_one(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        Ok(count)
    }
}
