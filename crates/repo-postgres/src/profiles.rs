use async_trait::async_trait;
use domain::ports::RepoResult;
use domain::{ProfileUpdate, UserId, ports::ProfileRepository, user::Profile};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Db;
use crate::DbResultExt as _;

struct ProfileRow {
    user_id: Uuid,
    bio: Option<String>,
    avatar_url: Option<String>,
    location: Option<String>,
    website: Option<String>,
    updated_at: OffsetDateTime,
}

impl From<ProfileRow> for Profile {
    fn from(row: ProfileRow) -> Self {
        Profile {
            user_id: UserId::from_uuid(row.user_id),
            bio: row.bio,
            avatar_url: row.avatar_url,
            location: row.location,
            website: row.website,
            updated_at: row.updated_at,
        }
    }
}

#[derive(Clone)]
pub struct PgProfiles {
    db: Db,
}

impl PgProfiles {
    pub fn new(db: impl Into<Db>) -> Self {
        Self { db: db.into() }
    }
}

#[async_trait]
impl ProfileRepository for PgProfiles {
    async fn find_by_user(&self, user_id: UserId) -> RepoResult<Option<Profile>> {
        let _query = crate::observe("profiles", "find_by_user");
        let mut conn = self.db.conn().await?;
        let row = sqlx::query_as!(
            ProfileRow,
            "SELECT user_id, bio, avatar_url, location, website, updated_at
             FROM user_profiles WHERE user_id = $1",
            user_id.as_uuid()
        )
        .fetch_optional(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        Ok(row.map(Profile::from))
    }

    async fn upsert(&self, user_id: UserId, update: &ProfileUpdate) -> RepoResult<Option<Profile>> {
        let _query = crate::observe("profiles", "upsert");
        // Inserting from the users row makes a missing user a `None`, not a
        // foreign-key error.
        let mut conn = self.db.conn().await?;
        let row = sqlx::query_as!(
            ProfileRow,
            r#"INSERT INTO user_profiles (user_id, bio, avatar_url, location, website)
               SELECT id, $2, $3, $4, $5 FROM users WHERE id = $1
               ON CONFLICT (user_id) DO UPDATE SET
                   bio = EXCLUDED.bio, avatar_url = EXCLUDED.avatar_url,
                   location = EXCLUDED.location, website = EXCLUDED.website, updated_at = now()
               RETURNING user_id, bio, avatar_url, location, website, updated_at"#,
            user_id.as_uuid(),
            update.bio.as_deref(),
            update.avatar_url.as_deref(),
            update.location.as_deref(),
            update.website.as_deref()
        )
        .fetch_optional(&mut *conn)
        .await
        .db()?;
        conn.done().await?;
        Ok(row.map(Profile::from))
    }
}
