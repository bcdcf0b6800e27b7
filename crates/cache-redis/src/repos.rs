//! `Cached<R>`: the repository decorators. Each implements the domain trait its
//! inner repository implements; reads go through the cache, writes go to the
//! inner repository and then invalidate every key they touched.

use async_trait::async_trait;
use domain::repo::{DeletedUser, PasswordChanged, RepoResult};
use domain::{
    Credentials, DisplayName, Email, NewOAuthAccount, NewSession, NewUser, OAuthAccount,
    OAuthAccountRepository, PasswordHash, Profile, ProfileRepository, ProfileUpdate, RotateOutcome,
    Session, SessionId, SessionRepository, TokenHash, User, UserId, UserRepository,
};
use time::OffsetDateTime;

use crate::Cache;
use crate::keys::Key;

/// A repository `R` behind the two-tier cache.
pub struct Cached<R> {
    inner: R,
    cache: Cache,
}

impl<R> Cached<R> {
    pub fn new(inner: R, cache: Cache) -> Self {
        Self { inner, cache }
    }

    pub fn inner(&self) -> &R {
        &self.inner
    }

    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    async fn invalidate(&self, keys: &[Key]) {
        self.cache.core().invalidate(keys).await;
    }
}

fn user_keys(id: UserId, email: &Email) -> [Key; 2] {
    [Key::UserById(id), Key::UserByEmail(email.clone())]
}

#[async_trait]
impl<R: UserRepository> UserRepository for Cached<R> {
    async fn create_with_session(
        &self,
        user: NewUser,
        session: NewSession,
    ) -> RepoResult<(User, Session)> {
        let (user, session) = self.inner.create_with_session(user, session).await?;
        // A "not found" for this email may be cached from a failed lookup.
        self.invalidate(&user_keys(user.id, &user.email)).await;
        Ok((user, session))
    }

    async fn create(&self, user: NewUser) -> RepoResult<User> {
        let user = self.inner.create(user).await?;
        self.invalidate(&user_keys(user.id, &user.email)).await;
        Ok(user)
    }

    async fn find_by_id(&self, id: UserId) -> RepoResult<Option<User>> {
        self.cache
            .core()
            .read(Key::UserById(id), || self.inner.find_by_id(id))
            .await
    }

    async fn find_by_email(&self, email: &Email) -> RepoResult<Option<User>> {
        self.cache
            .core()
            .read(Key::UserByEmail(email.clone()), || {
                self.inner.find_by_email(email)
            })
            .await
    }

    /// Never cached: the password hash does not leave the database path.
    async fn credentials_by_email(&self, email: &Email) -> RepoResult<Option<Credentials>> {
        self.inner.credentials_by_email(email).await
    }

    async fn credentials_by_id(&self, id: UserId) -> RepoResult<Option<Credentials>> {
        self.inner.credentials_by_id(id).await
    }

    async fn update_name(&self, id: UserId, name: &DisplayName) -> RepoResult<Option<User>> {
        let user = self.inner.update_name(id, name).await?;
        if let Some(user) = &user {
            self.invalidate(&user_keys(user.id, &user.email)).await;
        }
        Ok(user)
    }

    async fn change_password(
        &self,
        id: UserId,
        hash: &PasswordHash,
        keep: SessionId,
    ) -> RepoResult<Option<PasswordChanged>> {
        let changed = self.inner.change_password(id, hash, keep).await?;
        if let Some(changed) = &changed {
            let mut keys = user_keys(id, &changed.email).to_vec();
            keys.extend(changed.revoked.iter().copied().map(Key::Session));
            self.invalidate(&keys).await;
        }
        Ok(changed)
    }

    async fn delete(&self, id: UserId) -> RepoResult<Option<DeletedUser>> {
        let deleted = self.inner.delete(id).await?;
        if let Some(deleted) = &deleted {
            let mut keys = user_keys(id, &deleted.email).to_vec();
            keys.push(Key::Profile(id));
            keys.extend(deleted.sessions.iter().copied().map(Key::Session));
            keys.extend(
                deleted
                    .oauth_providers
                    .iter()
                    .map(|provider| Key::OAuth(id, provider.clone())),
            );
            self.invalidate(&keys).await;
        }
        Ok(deleted)
    }
}

#[async_trait]
impl<R: SessionRepository> SessionRepository for Cached<R> {
    /// Session ids are fresh UUIDv7s made by the service: no lookup of one can
    /// precede its creation, so there is nothing to invalidate.
    async fn create(&self, session: NewSession) -> RepoResult<Session> {
        self.inner.create(session).await
    }

    async fn find_by_id(&self, id: SessionId) -> RepoResult<Option<Session>> {
        self.cache
            .core()
            .read(Key::Session(id), || self.inner.find_by_id(id))
            .await
    }

    /// Not cached: the sessions page is rare and must show `last_used_at` exactly.
    async fn list_active(&self, user_id: UserId, now: OffsetDateTime) -> RepoResult<Vec<Session>> {
        self.inner.list_active(user_id, now).await
    }

    async fn rotate(
        &self,
        presented: &TokenHash,
        successor: &TokenHash,
        now: OffsetDateTime,
        grace: time::Duration,
    ) -> RepoResult<RotateOutcome> {
        let outcome = self.inner.rotate(presented, successor, now, grace).await?;
        match &outcome {
            RotateOutcome::Rotated(session) => self.invalidate(&[Key::Session(session.id)]).await,
            RotateOutcome::Reused { session_id, .. } => {
                self.invalidate(&[Key::Session(*session_id)]).await
            }
            RotateOutcome::Grace(_) | RotateOutcome::Inactive | RotateOutcome::NotFound => {}
        }
        Ok(outcome)
    }

    async fn revoke(&self, user_id: UserId, id: SessionId) -> RepoResult<bool> {
        let revoked = self.inner.revoke(user_id, id).await?;
        if revoked {
            self.invalidate(&[Key::Session(id)]).await;
        }
        Ok(revoked)
    }

    async fn revoke_all(&self, user_id: UserId) -> RepoResult<Vec<SessionId>> {
        let revoked = self.inner.revoke_all(user_id).await?;
        let keys: Vec<Key> = revoked.iter().copied().map(Key::Session).collect();
        self.invalidate(&keys).await;
        Ok(revoked)
    }
}

#[async_trait]
impl<R: ProfileRepository> ProfileRepository for Cached<R> {
    async fn find_by_user(&self, user_id: UserId) -> RepoResult<Option<Profile>> {
        self.cache
            .core()
            .read(Key::Profile(user_id), || self.inner.find_by_user(user_id))
            .await
    }

    async fn upsert(&self, user_id: UserId, update: &ProfileUpdate) -> RepoResult<Option<Profile>> {
        let profile = self.inner.upsert(user_id, update).await?;
        if profile.is_some() {
            self.invalidate(&[Key::Profile(user_id)]).await;
        }
        Ok(profile)
    }
}

#[async_trait]
impl<R: OAuthAccountRepository> OAuthAccountRepository for Cached<R> {
    /// Not cached: the seed's access pattern is by user and provider; a
    /// subject lookup happens once per OAuth login.
    async fn find_by_subject(
        &self,
        provider: &str,
        subject: &str,
    ) -> RepoResult<Option<OAuthAccount>> {
        self.inner.find_by_subject(provider, subject).await
    }

    async fn find_by_user_and_provider(
        &self,
        user_id: UserId,
        provider: &str,
    ) -> RepoResult<Option<OAuthAccount>> {
        self.cache
            .core()
            .read(Key::OAuth(user_id, provider.to_owned()), || {
                self.inner.find_by_user_and_provider(user_id, provider)
            })
            .await
    }

    async fn list_for_user(&self, user_id: UserId) -> RepoResult<Vec<OAuthAccount>> {
        self.inner.list_for_user(user_id).await
    }

    async fn link(&self, account: NewOAuthAccount) -> RepoResult<OAuthAccount> {
        let linked = self.inner.link(account).await?;
        self.invalidate(&[Key::OAuth(linked.user_id, linked.provider.clone())])
            .await;
        Ok(linked)
    }

    async fn unlink(&self, user_id: UserId, provider: &str) -> RepoResult<bool> {
        let unlinked = self.inner.unlink(user_id, provider).await?;
        if unlinked {
            self.invalidate(&[Key::OAuth(user_id, provider.to_owned())])
                .await;
        }
        Ok(unlinked)
    }
}
