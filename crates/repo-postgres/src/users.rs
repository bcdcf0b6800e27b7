use async_trait::async_trait;
use domain::ports::{DeletedUser, PasswordChanged, RepoResult, UserDisabled, UserQuery};
use domain::{
    DisplayName, Email, MfaMethods, PasswordHash, SessionId, UserId, error::RepoError,
    ports::UserRepository, user::Credentials, user::NewSession, user::NewUser, user::Session,
    user::User,
};
use sqlx::{Postgres, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Db;
use crate::DbResultExt as _;
use crate::sessions::insert_session;

pub(crate) struct UserRow {
    pub(crate) id: Uuid,
    pub(crate) email: String,
    pub(crate) name: String,
    pub(crate) email_verified: bool,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) updated_at: OffsetDateTime,
    pub(crate) roles: Vec<String>,
    pub(crate) disabled: bool,
}

impl TryFrom<UserRow> for User {
    type Error = RepoError;
    fn try_from(row: UserRow) -> Result<Self, RepoError> {
        Ok(User {
            id: UserId::from_uuid(row.id),
            email: stored_email(&row.email)?,
            name: row.name,
            email_verified: row.email_verified,
            created_at: row.created_at,
            updated_at: row.updated_at,
            roles: row.roles,
            disabled: row.disabled,
        })
    }
}

struct CredentialsRow {
    id: Uuid,
    password_hash: Option<String>,
    totp: bool,
    recovery_code: bool,
    webauthn: bool,
    disabled: bool,
}

impl From<CredentialsRow> for Credentials {
    fn from(row: CredentialsRow) -> Self {
        Credentials {
            user_id: UserId::from_uuid(row.id),
            password_hash: row.password_hash.map(PasswordHash::from_phc),
            mfa: MfaMethods {
                totp: row.totp,
                recovery_code: row.recovery_code,
                webauthn: row.webauthn,
            },
            disabled: row.disabled,
        }
    }
}

#[derive(Clone)]
pub struct PgUsers {
    db: Db,
}

impl PgUsers {
    pub fn new(db: impl Into<Db>) -> Self {
        Self { db: db.into() }
    }

    async fn insert(tx: &mut Transaction<'_, Postgres>, user: &NewUser) -> RepoResult<User> {
        let row = sqlx::query_as!(
            UserRow,
            r#"INSERT INTO users (id, email, name, email_verified, password_hash)
             VALUES ($1, $2, $3, $4, $5)
             RETURNING id, email, name, email_verified, created_at, updated_at,
                       user_roles_of(users.id) AS "roles!",
                       disabled_at IS NOT NULL AS "disabled!""#,
            user.id.as_uuid(),
            user.email.as_str(),
            user.name.as_str(),
            user.email_verified,
            user.password_hash.as_ref().map(PasswordHash::expose_phc)
        )
        .fetch_one(&mut **tx)
        .await
        .db()?;
        row.try_into()
    }
}

#[async_trait]
impl UserRepository for PgUsers {
    async fn create_with_session(
        &self,
        user: NewUser,
        session: NewSession,
    ) -> RepoResult<(User, Session)> {
        let _query = crate::observe("users", "create_with_session");
        let mut tx = self.db.begin().await?;
        let user = Self::insert(&mut tx, &user).await?;
        let session = insert_session(&mut tx, &session).await?;
        tx.commit().await.db()?;
        Ok((user, session))
    }

    async fn create(&self, user: NewUser) -> RepoResult<User> {
        let _query = crate::observe("users", "create");
        let mut tx = self.db.begin().await?;
        let user = Self::insert(&mut tx, &user).await?;
        tx.commit().await.db()?;
        Ok(user)
    }

    async fn find_by_id(&self, id: UserId) -> RepoResult<Option<User>> {
        let _query = crate::observe("users", "find_by_id");
        let mut conn = self.db.conn().await?;
        let row = sqlx::query_as!(
            UserRow,
            r#"SELECT id, email, name, email_verified, created_at, updated_at,
                      user_roles_of(users.id) AS "roles!",
                      disabled_at IS NOT NULL AS "disabled!"
             FROM users WHERE id = $1"#,
            id.as_uuid()
        )
        .fetch_optional(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        row.map(User::try_from).transpose()
    }

    async fn find_by_email(&self, email: &Email) -> RepoResult<Option<User>> {
        let _query = crate::observe("users", "find_by_email");
        let mut conn = self.db.conn().await?;
        let row = sqlx::query_as!(
            UserRow,
            r#"SELECT id, email, name, email_verified, created_at, updated_at,
                      user_roles_of(users.id) AS "roles!",
                      disabled_at IS NOT NULL AS "disabled!"
             FROM users WHERE lower(email) = lower($1)"#,
            email.as_str()
        )
        .fetch_optional(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        row.map(User::try_from).transpose()
    }

    async fn credentials_by_email(&self, email: &Email) -> RepoResult<Option<Credentials>> {
        let _query = crate::observe("users", "credentials_by_email");
        let mut conn = self.db.conn().await?;
        let row = sqlx::query_as!(
            CredentialsRow,
            r#"SELECT id AS "id!", password_hash, totp AS "totp!",
                      recovery_code AS "recovery_code!", webauthn AS "webauthn!",
                      disabled AS "disabled!"
               FROM user_credentials WHERE lower(email) = lower($1)"#,
            email.as_str()
        )
        .fetch_optional(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        Ok(row.map(Credentials::from))
    }

    async fn credentials_by_id(&self, id: UserId) -> RepoResult<Option<Credentials>> {
        let _query = crate::observe("users", "credentials_by_id");
        let mut conn = self.db.conn().await?;
        let row = sqlx::query_as!(
            CredentialsRow,
            r#"SELECT id AS "id!", password_hash, totp AS "totp!",
                      recovery_code AS "recovery_code!", webauthn AS "webauthn!",
                      disabled AS "disabled!"
               FROM user_credentials WHERE id = $1"#,
            id.as_uuid()
        )
        .fetch_optional(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        Ok(row.map(Credentials::from))
    }

    async fn update_name(&self, id: UserId, name: &DisplayName) -> RepoResult<Option<User>> {
        let _query = crate::observe("users", "update_name");
        let mut conn = self.db.conn().await?;
        let row = sqlx::query_as!(
            UserRow,
            r#"UPDATE users SET name = $2, updated_at = now() WHERE id = $1
             RETURNING id, email, name, email_verified, created_at, updated_at,
                       user_roles_of(users.id) AS "roles!",
                       disabled_at IS NOT NULL AS "disabled!""#,
            id.as_uuid(),
            name.as_str()
        )
        .fetch_optional(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        row.map(User::try_from).transpose()
    }

    async fn change_password(
        &self,
        id: UserId,
        hash: &PasswordHash,
        keep: SessionId,
    ) -> RepoResult<Option<PasswordChanged>> {
        let _query = crate::observe("users", "change_password");
        let mut tx = self.db.begin().await?;
        let email = sqlx::query_scalar!(
            "UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1 RETURNING email",
            id.as_uuid(),
            hash.expose_phc()
        )
        .fetch_optional(&mut *tx)
        .await
        .db()?;
        let Some(email) = email else { return Ok(None) };
        crate::recovery::void_pending_links(&mut tx, id).await?;
        let revoked = sqlx::query_scalar!(
            "UPDATE sessions SET revoked_at = now(), revoked_reason = 'password_change'
             WHERE user_id = $1 AND id <> $2 AND parent_id IS DISTINCT FROM $2
               AND revoked_at IS NULL RETURNING id",
            id.as_uuid(),
            keep.as_uuid()
        )
        .fetch_all(&mut *tx)
        .await
        .db()?;
        tx.commit().await.db()?;
        Ok(Some(PasswordChanged {
            email: stored_email(&email)?,
            revoked: revoked.into_iter().map(SessionId::from_uuid).collect(),
        }))
    }

    async fn set_roles(&self, id: UserId, roles: &[String]) -> RepoResult<Option<User>> {
        let _query = crate::observe("users", "set_roles");
        let mut tx = self.db.begin().await?;
        // Locks the user, so concurrent changes apply one after the other.
        let exists = sqlx::query_scalar!(
            "SELECT 1 AS \"one!\" FROM users WHERE id = $1 FOR UPDATE",
            id.as_uuid()
        )
        .fetch_optional(&mut *tx)
        .await
        .db()?;
        if exists.is_none() {
            return Ok(None);
        }
        sqlx::query!("DELETE FROM user_roles WHERE user_id = $1", id.as_uuid())
            .execute(&mut *tx)
            .await
            .db()?;
        sqlx::query!(
            "INSERT INTO user_roles (user_id, role) SELECT $1, unnest($2::text[])",
            id.as_uuid(),
            roles
        )
        .execute(&mut *tx)
        .await
        .db()?;
        let row = sqlx::query_as!(
            UserRow,
            r#"UPDATE users SET updated_at = now() WHERE id = $1
               RETURNING id, email, name, email_verified, created_at, updated_at,
                         user_roles_of(users.id) AS "roles!",
                       disabled_at IS NOT NULL AS "disabled!""#,
            id.as_uuid()
        )
        .fetch_one(&mut *tx)
        .await
        .db()?;
        tx.commit().await.db()?;
        Ok(Some(row.try_into()?))
    }

    async fn delete(&self, id: UserId) -> RepoResult<Option<DeletedUser>> {
        let _query = crate::observe("users", "delete");
        let mut tx = self.db.begin().await?;
        let sessions =
            sqlx::query_scalar!("SELECT id FROM sessions WHERE user_id = $1", id.as_uuid())
                .fetch_all(&mut *tx)
                .await
                .db()?;
        let providers = sqlx::query_scalar!(
            "SELECT provider FROM oauth_accounts WHERE user_id = $1",
            id.as_uuid()
        )
        .fetch_all(&mut *tx)
        .await
        .db()?;
        let email = sqlx::query_scalar!(
            "DELETE FROM users WHERE id = $1 RETURNING email",
            id.as_uuid()
        )
        .fetch_optional(&mut *tx)
        .await
        .db()?;
        tx.commit().await.db()?;
        let Some(email) = email else { return Ok(None) };
        Ok(Some(DeletedUser {
            email: stored_email(&email)?,
            sessions: sessions.into_iter().map(SessionId::from_uuid).collect(),
            oauth_providers: providers
                .iter()
                .map(String::as_str)
                .map(crate::stored_provider)
                .collect::<RepoResult<_>>()?,
        }))
    }

    async fn set_disabled(&self, id: UserId, disabled: bool) -> RepoResult<Option<UserDisabled>> {
        let _query = crate::observe("users", "set_disabled");
        let mut tx = self.db.begin().await?;
        // Disabling keeps the first time; enabling clears it.
        let row = sqlx::query_as!(
            UserRow,
            r#"UPDATE users
               SET disabled_at = CASE WHEN $2 THEN coalesce(disabled_at, now()) END,
                   updated_at = now()
               WHERE id = $1
               RETURNING id, email, name, email_verified, created_at, updated_at,
                         user_roles_of(users.id) AS "roles!",
                         disabled_at IS NOT NULL AS "disabled!""#,
            id.as_uuid(),
            disabled
        )
        .fetch_optional(&mut *tx)
        .await
        .db()?;
        let Some(row) = row else { return Ok(None) };
        let revoked = if disabled {
            sqlx::query_scalar!(
                "UPDATE sessions SET revoked_at = now(), revoked_reason = 'account_disabled'
                 WHERE user_id = $1 AND revoked_at IS NULL RETURNING id",
                id.as_uuid()
            )
            .fetch_all(&mut *tx)
            .await
            .db()?
        } else {
            Vec::new()
        };
        tx.commit().await.db()?;
        Ok(Some(UserDisabled {
            user: row.try_into()?,
            revoked: revoked.into_iter().map(SessionId::from_uuid).collect(),
        }))
    }

    async fn list(&self, query: &UserQuery) -> RepoResult<Vec<User>> {
        let _query = crate::observe("users", "list");
        // `LIKE` with the prefix's own wildcards escaped; the index on
        // `lower(email) text_pattern_ops` serves it.
        let pattern = query.email_prefix.as_deref().map(|prefix| {
            let escaped = prefix
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("{escaped}%")
        });
        let mut conn = self.db.conn().await?;
        let rows = sqlx::query_as!(
            UserRow,
            r#"SELECT id, email, name, email_verified, created_at, updated_at,
                      user_roles_of(users.id) AS "roles!",
                      disabled_at IS NOT NULL AS "disabled!"
               FROM users
               WHERE ($1::text IS NULL OR lower(email) LIKE $1)
                 AND ($2::timestamptz IS NULL OR created_at >= $2)
                 AND ($3::timestamptz IS NULL OR created_at < $3)
                 AND ($4::uuid IS NULL OR id < $4)
               ORDER BY id DESC
               LIMIT $5"#,
            pattern,
            query.created_after,
            query.created_before,
            query.before.map(|id| id.as_uuid()),
            i64::from(query.limit)
        )
        .fetch_all(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        rows.into_iter().map(User::try_from).collect()
    }
}

pub(crate) fn stored_email(email: &str) -> RepoResult<Email> {
    if email.is_empty() {
        return Err(RepoError::other("a stored email is empty"));
    }
    Ok(Email::from_stored(email))
}
