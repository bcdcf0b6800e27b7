//! `Cached<R>`: the repository decorators. Each implements the domain trait its
//! inner repository implements; reads go through the cache, writes go to the
//! inner repository and then invalidate every key they touched.
//!
//! A write and its invalidation run in a task of their own: when the caller is
//! cancelled (a client disconnects, a request times out) after the database
//! committed, the invalidation still happens. Without that, a dropped request
//! could leave the old value cached for a whole TTL.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use domain::oidc::Scopes;
use domain::ports::{
    DeletedUser, Grant, NewCode, PasswordChanged, ProviderRepository, Redeemed, Redemption,
    RepoResult, StoredRequest, UserDisabled, UserQuery,
};
use domain::{
    ClientId, DisplayName, Email, PasswordHash, ProfileUpdate, ProviderName, SessionId, TokenHash,
    UserId, mail::OutgoingMail, ports::AccountToken, ports::ApiClient, ports::ApiClientRepository,
    ports::EmailConfirmed, ports::FactorRemoved, ports::NewAccountToken,
    ports::OAuthAccountRepository, ports::PasswordReset, ports::ProfileRepository,
    ports::RecoveryRepository, ports::SessionRepository, ports::UserRepository, user::Credentials,
    user::NewOAuthAccount, user::NewSession, user::NewUser, user::OAuthAccount, user::Profile,
    user::RotateOutcome, user::Session, user::User,
};
use time::OffsetDateTime;

use crate::Cache;
use crate::keys::Key;

/// A repository `R` behind the two-tier cache.
pub struct Cached<R> {
    inner: Arc<R>,
    cache: Cache,
}

impl<R> Cached<R> {
    pub fn new(inner: R, cache: Cache) -> Self {
        Self {
            inner: Arc::new(inner),
            cache,
        }
    }

    pub fn inner(&self) -> &R {
        &self.inner
    }

    pub fn cache(&self) -> &Cache {
        &self.cache
    }
}

impl<R: Send + Sync + 'static> Cached<R> {
    /// Runs a write (and the invalidation it ends with) to completion in its own
    /// task, whatever happens to the caller.
    async fn write<T, F, Fut>(&self, write: F) -> RepoResult<T>
    where
        F: FnOnce(Arc<R>, Cache) -> Fut,
        Fut: Future<Output = RepoResult<T>> + Send + 'static,
        T: Send + 'static,
    {
        let task = tokio::spawn(write(Arc::clone(&self.inner), self.cache.clone()));
        task.await
            .map_err(|e| domain::error::RepoError::other(format!("a cached write failed: {e}")))?
    }
}

async fn invalidate(cache: &Cache, keys: &[Key]) {
    cache.core().invalidate(keys).await;
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
        self.write(|inner, cache| async move {
            let (user, session) = inner.create_with_session(user, session).await?;
            // A "not found" for this email may be cached from a failed lookup.
            invalidate(&cache, &user_keys(user.id, &user.email)).await;
            Ok((user, session))
        })
        .await
    }

    async fn create(&self, user: NewUser) -> RepoResult<User> {
        self.write(|inner, cache| async move {
            let user = inner.create(user).await?;
            invalidate(&cache, &user_keys(user.id, &user.email)).await;
            Ok(user)
        })
        .await
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
        let name = name.clone();
        self.write(move |inner, cache| async move {
            let user = inner.update_name(id, &name).await?;
            if let Some(user) = &user {
                invalidate(&cache, &user_keys(user.id, &user.email)).await;
            }
            Ok(user)
        })
        .await
    }

    async fn change_password(
        &self,
        id: UserId,
        hash: &PasswordHash,
        keep: SessionId,
    ) -> RepoResult<Option<PasswordChanged>> {
        let hash = hash.clone();
        self.write(move |inner, cache| async move {
            let changed = inner.change_password(id, &hash, keep).await?;
            if let Some(changed) = &changed {
                let mut keys = user_keys(id, &changed.email).to_vec();
                keys.extend(changed.revoked.iter().copied().map(Key::Session));
                invalidate(&cache, &keys).await;
            }
            Ok(changed)
        })
        .await
    }

    async fn set_roles(&self, id: UserId, roles: &[String]) -> RepoResult<Option<User>> {
        let roles = roles.to_vec();
        self.write(move |inner, cache| async move {
            let user = inner.set_roles(id, &roles).await?;
            if let Some(user) = &user {
                invalidate(&cache, &user_keys(user.id, &user.email)).await;
            }
            Ok(user)
        })
        .await
    }

    async fn delete(&self, id: UserId) -> RepoResult<Option<DeletedUser>> {
        self.write(move |inner, cache| async move {
            let deleted = inner.delete(id).await?;
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
                invalidate(&cache, &keys).await;
            }
            Ok(deleted)
        })
        .await
    }

    async fn set_disabled(&self, id: UserId, disabled: bool) -> RepoResult<Option<UserDisabled>> {
        self.write(move |inner, cache| async move {
            let changed = inner.set_disabled(id, disabled).await?;
            if let Some(changed) = &changed {
                let mut keys = user_keys(id, &changed.user.email).to_vec();
                keys.extend(changed.revoked.iter().copied().map(Key::Session));
                invalidate(&cache, &keys).await;
            }
            Ok(changed)
        })
        .await
    }

    /// Not cached: an admin's search must show users as they are.
    async fn list(&self, query: &UserQuery) -> RepoResult<Vec<User>> {
        self.inner.list(query).await
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
        client: Option<ClientId>,
    ) -> RepoResult<RotateOutcome> {
        let (presented, successor) = (*presented, *successor);
        self.write(move |inner, cache| async move {
            let outcome = inner
                .rotate(&presented, &successor, now, grace, client)
                .await?;
            match &outcome {
                RotateOutcome::Rotated(session) => {
                    invalidate(&cache, &[Key::Session(session.id)]).await
                }
                RotateOutcome::Reused { ended, .. } => {
                    let keys: Vec<Key> = ended.iter().copied().map(Key::Session).collect();
                    invalidate(&cache, &keys).await
                }
                RotateOutcome::Grace(_) | RotateOutcome::Inactive | RotateOutcome::NotFound => {}
            }
            Ok(outcome)
        })
        .await
    }

    async fn revoke(&self, user_id: UserId, id: SessionId) -> RepoResult<Vec<SessionId>> {
        self.write(move |inner, cache| async move {
            let revoked = inner.revoke(user_id, id).await?;
            let keys: Vec<Key> = revoked.iter().copied().map(Key::Session).collect();
            invalidate(&cache, &keys).await;
            Ok(revoked)
        })
        .await
    }

    async fn revoke_all(&self, user_id: UserId) -> RepoResult<Vec<SessionId>> {
        self.write(move |inner, cache| async move {
            let revoked = inner.revoke_all(user_id).await?;
            let keys: Vec<Key> = revoked.iter().copied().map(Key::Session).collect();
            invalidate(&cache, &keys).await;
            Ok(revoked)
        })
        .await
    }

    /// Not cached: introspecting or revoking a refresh token is rare, and the
    /// answer must follow every rotation.
    async fn find_by_refresh_token(&self, hash: &TokenHash) -> RepoResult<Option<Session>> {
        self.inner.find_by_refresh_token(hash).await
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
        let update = update.clone();
        self.write(move |inner, cache| async move {
            let profile = inner.upsert(user_id, &update).await?;
            if profile.is_some() {
                invalidate(&cache, &[Key::Profile(user_id)]).await;
            }
            Ok(profile)
        })
        .await
    }
}

#[async_trait]
impl<R: OAuthAccountRepository> OAuthAccountRepository for Cached<R> {
    /// Not cached: the seed's access pattern is by user and provider; a
    /// subject lookup happens once per OAuth login.
    async fn find_by_subject(
        &self,
        provider: &ProviderName,
        subject: &str,
    ) -> RepoResult<Option<OAuthAccount>> {
        self.inner.find_by_subject(provider, subject).await
    }

    async fn find_by_user_and_provider(
        &self,
        user_id: UserId,
        provider: &ProviderName,
    ) -> RepoResult<Option<OAuthAccount>> {
        self.cache
            .core()
            .read(Key::OAuth(user_id, provider.clone()), || {
                self.inner.find_by_user_and_provider(user_id, provider)
            })
            .await
    }

    async fn list_for_user(&self, user_id: UserId) -> RepoResult<Vec<OAuthAccount>> {
        self.inner.list_for_user(user_id).await
    }

    async fn link(&self, account: NewOAuthAccount) -> RepoResult<OAuthAccount> {
        self.write(|inner, cache| async move {
            let linked = inner.link(account).await?;
            invalidate(
                &cache,
                &[Key::OAuth(linked.user_id, linked.provider.clone())],
            )
            .await;
            Ok(linked)
        })
        .await
    }

    async fn unlink(&self, user_id: UserId, provider: &ProviderName) -> RepoResult<bool> {
        let provider = provider.clone();
        self.write(move |inner, cache| async move {
            let unlinked = inner.unlink(user_id, &provider).await?;
            if unlinked {
                invalidate(&cache, &[Key::OAuth(user_id, provider)]).await;
            }
            Ok(unlinked)
        })
        .await
    }
}

/// API clients: read by every introspection and revocation, so cached like
/// users; a deletion invalidates the client on every instance.
#[async_trait]
impl<R: ApiClientRepository> ApiClientRepository for Cached<R> {
    /// Client ids are fresh UUIDv7s: no lookup can precede the creation.
    async fn create(&self, client: ApiClient) -> RepoResult<ApiClient> {
        self.inner.create(client).await
    }

    async fn find(&self, id: ClientId) -> RepoResult<Option<ApiClient>> {
        self.cache
            .core()
            .read(Key::Client(id), || self.inner.find(id))
            .await
    }

    async fn list(&self) -> RepoResult<Vec<ApiClient>> {
        self.inner.list().await
    }

    async fn delete(&self, id: ClientId) -> RepoResult<bool> {
        self.write(move |inner, cache| async move {
            let deleted = inner.delete(id).await?;
            if deleted {
                invalidate(&cache, &[Key::Client(id)]).await;
            }
            Ok(deleted)
        })
        .await
    }
}

/// The provider's requests, codes and consents are not cached; what ends
/// sessions (a replayed code, a revoked consent) invalidates them everywhere,
/// and a redeemed code's new session is written with nothing cached before it.
#[async_trait]
impl<R: ProviderRepository> ProviderRepository for Cached<R> {
    async fn save_request(&self, request: &StoredRequest) -> RepoResult<()> {
        self.inner.save_request(request).await
    }

    async fn find_request(
        &self,
        id: uuid::Uuid,
        now: OffsetDateTime,
    ) -> RepoResult<Option<StoredRequest>> {
        self.inner.find_request(id, now).await
    }

    async fn take_pushed(
        &self,
        id: uuid::Uuid,
        client: ClientId,
        now: OffsetDateTime,
    ) -> RepoResult<Option<StoredRequest>> {
        self.inner.take_pushed(id, client, now).await
    }

    async fn delete_request(&self, id: uuid::Uuid) -> RepoResult<()> {
        self.inner.delete_request(id).await
    }

    async fn save_code(&self, code: &NewCode) -> RepoResult<()> {
        self.inner.save_code(code).await
    }

    async fn redeem(&self, redemption: &Redemption) -> RepoResult<Redeemed> {
        let redemption = redemption.clone();
        self.write(move |inner, cache| async move {
            let redeemed = inner.redeem(&redemption).await?;
            if let Redeemed::Reused { ended } = &redeemed {
                let keys: Vec<Key> = ended.iter().copied().map(Key::Session).collect();
                invalidate(&cache, &keys).await;
            }
            Ok(redeemed)
        })
        .await
    }

    async fn grant(&self, user: UserId, client: ClientId) -> RepoResult<Option<Grant>> {
        self.inner.grant(user, client).await
    }

    async fn save_grant(&self, user: UserId, client: ClientId, scopes: Scopes) -> RepoResult<()> {
        self.inner.save_grant(user, client, scopes).await
    }

    async fn grants(&self, user: UserId) -> RepoResult<Vec<Grant>> {
        self.inner.grants(user).await
    }

    async fn revoke_grant(
        &self,
        user: UserId,
        client: ClientId,
    ) -> RepoResult<Option<Vec<SessionId>>> {
        self.write(move |inner, cache| async move {
            let ended = inner.revoke_grant(user, client).await?;
            if let Some(ended) = &ended {
                let keys: Vec<Key> = ended.iter().copied().map(Key::Session).collect();
                invalidate(&cache, &keys).await;
            }
            Ok(ended)
        })
        .await
    }

    async fn revoke_client_token(
        &self,
        jti: uuid::Uuid,
        client: ClientId,
        expires_at: OffsetDateTime,
    ) -> RepoResult<()> {
        self.inner
            .revoke_client_token(jti, client, expires_at)
            .await
    }

    async fn client_token_revoked(&self, jti: uuid::Uuid) -> RepoResult<bool> {
        self.inner.client_token_revoked(jti).await
    }

    async fn purge_expired(&self, now: OffsetDateTime) -> RepoResult<u64> {
        self.inner.purge_expired(now).await
    }
}

/// Mailed tokens change users (password, address, verification) and sessions:
/// each write invalidates what it touched, both addresses of an email change
/// included.
#[async_trait]
impl<R: RecoveryRepository> RecoveryRepository for Cached<R> {
    async fn issue(&self, token: NewAccountToken, mail: OutgoingMail) -> RepoResult<()> {
        self.inner.issue(token, mail).await
    }

    async fn enqueue(&self, mail: OutgoingMail) -> RepoResult<()> {
        self.inner.enqueue(mail).await
    }

    async fn find(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> RepoResult<Option<AccountToken>> {
        self.inner.find(hash, now).await
    }

    async fn reset_password(
        &self,
        token: &TokenHash,
        user_id: UserId,
        hash: &PasswordHash,
        now: OffsetDateTime,
    ) -> RepoResult<Option<PasswordReset>> {
        let (token, hash) = (*token, hash.clone());
        self.write(move |inner, cache| async move {
            let reset = inner.reset_password(&token, user_id, &hash, now).await?;
            if let Some(reset) = &reset {
                let mut keys = user_keys(user_id, &reset.email).to_vec();
                keys.extend(reset.revoked.iter().copied().map(Key::Session));
                keys.extend(
                    reset
                        .unlinked
                        .iter()
                        .map(|provider| Key::OAuth(user_id, provider.clone())),
                );
                invalidate(&cache, &keys).await;
            }
            Ok(reset)
        })
        .await
    }

    async fn remove_factor(
        &self,
        token: &TokenHash,
        now: OffsetDateTime,
    ) -> RepoResult<Option<FactorRemoved>> {
        let token = *token;
        self.write(move |inner, cache| async move {
            let removed = inner.remove_factor(&token, now).await?;
            if let Some(removed) = &removed {
                let mut keys = user_keys(removed.user_id, &removed.email).to_vec();
                keys.extend(removed.revoked.iter().copied().map(Key::Session));
                invalidate(&cache, &keys).await;
            }
            Ok(removed)
        })
        .await
    }

    async fn confirm_email(
        &self,
        token: &TokenHash,
        now: OffsetDateTime,
    ) -> RepoResult<Option<EmailConfirmed>> {
        let token = *token;
        self.write(move |inner, cache| async move {
            let confirmed = inner.confirm_email(&token, now).await?;
            if let Some(confirmed) = &confirmed {
                let user = &confirmed.user;
                let mut keys = user_keys(user.id, &user.email).to_vec();
                if let Some(previous) = &confirmed.previous_email {
                    keys.push(Key::UserByEmail(previous.clone()));
                }
                keys.extend(confirmed.revoked.iter().copied().map(Key::Session));
                keys.extend(
                    confirmed
                        .unlinked
                        .iter()
                        .map(|provider| Key::OAuth(user.id, provider.clone())),
                );
                invalidate(&cache, &keys).await;
            }
            Ok(confirmed)
        })
        .await
    }
}
