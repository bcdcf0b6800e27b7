//! Sign-in with external identity providers (OAuth 2.0 / OpenID Connect): the
//! provider trait the `oauth` crate implements, the pending-login store, and
//! `FederationService`, which runs the flow and turns an external identity into a
//! session exactly like a password login.
//!
//! Accounts are keyed by (provider, subject), never by email. An email that
//! belongs to a local account is never taken over silently.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;
use time::OffsetDateTime;

use crate::amr::Amr;
use crate::audit::{Audit, AuditKind, Outcome};
use crate::auth::{AuthService, event};
use crate::client_info::ClientInfo;
use crate::error::OAuthFailure;
use crate::error::{AuthError, ProviderError, RepoError, Resource};
use crate::ids::UserId;
use crate::links::HttpUrl;
use crate::ports::AuditLog;
use crate::ports::{
    AuthorizationRequest, ExternalIdentity, IdentityProvider, OAuthAccountRepository, PendingLogin,
    PendingLoginRepository, UserRepository,
};
use crate::refresh::MailToken;
use crate::signin::{MfaRequired, SignIn};
use crate::user::{DisplayName, Email, NewOAuthAccount, NewUser, OAuthAccount, ProviderName};

#[derive(Debug, Clone)]
pub struct FederationSettings {
    /// `PUBLIC_BASE_URL`: the service as browsers reach it.
    pub public_base_url: HttpUrl,
    /// `OAUTH_LINK_VERIFIED_EMAIL`: link a first login to the local account with
    /// the same email when both sides have verified it.
    pub link_verified_email: bool,
    /// `OAUTH_REDIRECT_ALLOWLIST`: origins (or URL prefixes) `redirect_to` may
    /// name, parsed once.
    pub redirect_allowlist: Vec<HttpUrl>,
    /// How long a started login waits for its callback (at most 10 minutes).
    pub pending_ttl: time::Duration,
}

/// A started login: where to send the browser, and the cookie to bind it with.
#[derive(Debug)]
pub struct Started {
    pub authorize_url: String,
    pub browser_binding: String,
}

/// The parameters of a callback.
#[derive(Debug, Default)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

#[derive(Debug)]
pub enum Completed {
    /// No redirect: the sign-in's next step, answered to the caller.
    SignedIn(SignIn),
    Linked {
        account: OAuthAccount,
        redirect_to: Option<String>,
    },
    /// A sign-in that ends in a redirect: a one-time code that opens the
    /// session at `/auth/oauth/exchange` (never tokens in a URL: browser
    /// history, referrers, extensions), or the second factor's challenge.
    Redirect { next: HandOff, redirect_to: String },
}

/// What a redirecting provider sign-in hands the front end.
#[derive(Debug)]
pub enum HandOff {
    /// Single use, [`HANDOFF_TTL`]: exchanged for the session.
    Code(MailToken),
    /// The account has a second factor: complete at `/auth/mfa/verify`.
    SecondFactor(MfaRequired),
}

/// How long a hand-off code works.
const HANDOFF_TTL: time::Duration = time::Duration::seconds(60);

/// The storage [`FederationService`] reaches.
pub struct FederationPorts {
    pub users: Arc<dyn UserRepository>,
    pub accounts: Arc<dyn OAuthAccountRepository>,
    pub pending: Arc<dyn PendingLoginRepository>,
    pub audit_log: Arc<dyn AuditLog>,
}

pub struct FederationService {
    auth: Arc<AuthService>,
    audit: Audit,
    users: Arc<dyn UserRepository>,
    accounts: Arc<dyn OAuthAccountRepository>,
    pending: Arc<dyn PendingLoginRepository>,
    providers: HashMap<ProviderName, Arc<dyn IdentityProvider>>,
    settings: FederationSettings,
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn digest(value: &str) -> [u8; 32] {
    Sha256::digest(value.as_bytes()).into()
}

impl FederationService {
    pub fn new(
        auth: Arc<AuthService>,
        ports: FederationPorts,
        providers: Vec<Arc<dyn IdentityProvider>>,
        settings: FederationSettings,
    ) -> Self {
        let FederationPorts {
            users,
            accounts,
            pending,
            audit_log,
        } = ports;
        Self {
            auth,
            audit: Audit::new(audit_log),
            users,
            accounts,
            pending,
            providers: providers
                .into_iter()
                .map(|p| (p.name().clone(), p))
                .collect(),
            settings,
        }
    }

    /// `PUBLIC_BASE_URL`: the service as browsers reach it.
    pub fn public_base_url(&self) -> &HttpUrl {
        &self.settings.public_base_url
    }

    /// Names of the configured providers.
    pub fn provider_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.providers.keys().map(ProviderName::as_str).collect();
        names.sort_unstable();
        names
    }

    fn provider(&self, name: &ProviderName) -> Result<&Arc<dyn IdentityProvider>, OAuthFailure> {
        self.providers
            .get(name)
            .ok_or_else(|| OAuthFailure::UnknownProvider(name.to_string()))
    }

    pub fn redirect_uri(&self, provider: &ProviderName) -> String {
        self.settings
            .public_base_url
            .join(&format!("/api/v1/auth/oauth/{provider}/callback"))
    }

    /// Whether `redirect_to` may be sent to: an absolute http(s) URL without
    /// credentials whose origin equals an allow-listed entry's and whose path lies
    /// under the entry's path (parsed with the `url` crate, so `https://evil.com@app…`,
    /// `//app…`, backslashes and `javascript:` never pass).
    fn allowed_redirect(&self, target: &str) -> bool {
        let Some(target) = HttpUrl::parse(target) else {
            return false;
        };
        self.settings
            .redirect_allowlist
            .iter()
            .any(|allowed| allowed.admits(&target))
    }

    /// Starts a login (or, with `link_user`, the linking of a provider).
    #[tracing::instrument(skip_all, fields(provider = %provider_name))]
    pub async fn begin(
        &self,
        provider_name: &ProviderName,
        redirect_to: Option<&str>,
        link_user: Option<UserId>,
    ) -> Result<Started, AuthError> {
        let provider = self.provider(provider_name)?;
        if let Some(target) = redirect_to
            && !self.allowed_redirect(target)
        {
            return Err(OAuthFailure::RedirectNotAllowed.into());
        }
        // A link is a way in: only to an account whose address is verified.
        if let Some(user_id) = link_user {
            let user = self.users.find_by_id(user_id).await?;
            if !user.is_some_and(|user| user.email_verified) {
                return Err(AuthError::EmailNotVerified);
            }
        }
        let state = random_token();
        let verifier = random_token();
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let nonce = provider.is_oidc().then(random_token);
        let browser_binding = random_token();
        let redirect_uri = self.redirect_uri(provider_name);
        let authorize_url = provider
            .authorization_url(AuthorizationRequest {
                state: &state,
                pkce_challenge: &challenge,
                nonce: nonce.as_deref(),
                redirect_uri: &redirect_uri,
            })
            .await
            .map_err(OAuthFailure::from)?;
        let ttl = self.settings.pending_ttl.min(time::Duration::minutes(10));
        self.pending
            .save(&PendingLogin {
                state_hash: digest(&state),
                provider: provider_name.clone(),
                pkce_verifier: verifier,
                nonce,
                browser_hash: digest(&browser_binding),
                redirect_to: redirect_to.map(str::to_owned),
                link_user,
                expires_at: OffsetDateTime::now_utc() + ttl,
            })
            .await?;
        tracing::info!("oauth login started");
        Ok(Started {
            authorize_url,
            browser_binding,
        })
    }

    /// Finishes a login at the callback.
    #[tracing::instrument(skip_all, fields(provider = %provider_name))]
    pub async fn complete(
        &self,
        provider_name: &ProviderName,
        callback: Callback,
        browser_binding: Option<&str>,
        client: &ClientInfo,
    ) -> Result<Completed, AuthError> {
        let result = self
            .complete_inner(provider_name, callback, browser_binding, client)
            .await;
        let outcome = match &result {
            Ok(_) => "success",
            Err(AuthError::OAuth(OAuthFailure::AccountExists)) => "account_exists",
            Err(AuthError::OAuth(OAuthFailure::InvalidState)) => "invalid_state",
            Err(AuthError::OAuth(OAuthFailure::Provider(ProviderError::Unavailable(_)))) => {
                "provider_unavailable"
            }
            Err(_) => "failure",
        };
        event("oauth_login", outcome);
        if let Err(error) = &result {
            tracing::info!(%error, "oauth login failed");
        }
        result
    }

    async fn complete_inner(
        &self,
        provider_name: &ProviderName,
        callback: Callback,
        browser_binding: Option<&str>,
        client: &ClientInfo,
    ) -> Result<Completed, AuthError> {
        let provider = self.provider(provider_name)?;
        let state = callback
            .state
            .as_deref()
            .ok_or(OAuthFailure::InvalidState)?;
        // Single use: taken before anything else is checked.
        let pending = self
            .pending
            .take(&digest(state))
            .await?
            .ok_or(OAuthFailure::InvalidState)?;
        let binding_ok = browser_binding
            .is_some_and(|cookie| bool::from(digest(cookie).ct_eq(&pending.browser_hash)));
        if &pending.provider != provider_name
            || pending.expires_at <= OffsetDateTime::now_utc()
            || !binding_ok
        {
            return Err(OAuthFailure::InvalidState.into());
        }
        if let Some(error) = callback.error {
            let detail = callback
                .error_description
                .map_or(error.clone(), |d| format!("{error}: {d}"));
            return Err(OAuthFailure::Denied(truncate(&detail, 200)).into());
        }
        if let Some((issuer, always_sent)) = provider.issuer().await.map_err(OAuthFailure::from)? {
            match &callback.iss {
                Some(iss) if iss != &issuer => return Err(OAuthFailure::IssuerMismatch.into()),
                None if always_sent => return Err(OAuthFailure::IssuerMismatch.into()),
                _ => {}
            }
        }
        let code = callback.code.as_deref().ok_or(OAuthFailure::InvalidState)?;
        let identity = provider
            .identity(
                code,
                &pending.pkce_verifier,
                pending.nonce.as_deref(),
                &self.redirect_uri(provider_name),
            )
            .await
            .map_err(OAuthFailure::from)?;
        tracing::info!("provider identity validated");

        if let Some(user_id) = pending.link_user {
            let account = self.link(user_id, provider_name, &identity).await?;
            self.audit
                .record(
                    AuditKind::OauthLink,
                    Outcome::Success,
                    Some(user_id),
                    client,
                )
                .await;
            return Ok(Completed::Linked {
                account,
                redirect_to: pending.redirect_to,
            });
        }
        let user_id = match self
            .accounts
            .find_by_subject(provider_name, &identity.subject)
            .await?
        {
            Some(account) => account.user_id,
            None => self.first_login(provider_name, &identity).await?,
        };
        if let Some(redirect_to) = pending.redirect_to {
            let handed_off = self.hand_off(user_id).await;
            let outcome = match &handed_off {
                Ok(HandOff::Code(_)) => Outcome::Success,
                Ok(HandOff::SecondFactor(_)) => Outcome::MfaRequired,
                Err(_) => Outcome::Failure,
            };
            self.audit
                .record(AuditKind::OauthLogin, outcome, Some(user_id), client)
                .await;
            return Ok(Completed::Redirect {
                next: handed_off?,
                redirect_to,
            });
        }
        let signed_in = self.auth.sign_in_federated(user_id, client).await;
        self.audit
            .record(
                AuditKind::OauthLogin,
                SignIn::outcome_of(&signed_in),
                Some(user_id),
                client,
            )
            .await;
        Ok(Completed::SignedIn(signed_in?))
    }

    /// A provider sign-in ending in a redirect: the second factor's challenge
    /// if the user has one, else a one-time code for the sign-in.
    async fn hand_off(&self, user_id: UserId) -> Result<HandOff, AuthError> {
        let mfa = self.auth.federated_factors(user_id).await?;
        if let Some(required) = self
            .auth
            .second_factor_if_any(user_id, mfa, Amr::FED)
            .await?
        {
            return Ok(HandOff::SecondFactor(required));
        }
        let code = MailToken::random();
        let expires_at = OffsetDateTime::now_utc() + HANDOFF_TTL;
        self.pending
            .save_handoff(&code.hash(), user_id, Amr::FED, expires_at)
            .await?;
        Ok(HandOff::Code(code))
    }

    /// Exchanges a hand-off code (single use, 60 s) for the session it stands
    /// for: the token response a JSON callback would have answered.
    #[tracing::instrument(skip_all)]
    pub async fn exchange(&self, code: &str, client: &ClientInfo) -> Result<SignIn, AuthError> {
        let code = MailToken::parse(code).ok_or(OAuthFailure::InvalidState)?;
        let (user_id, amr) = self
            .pending
            .take_handoff(&code.hash(), OffsetDateTime::now_utc())
            .await?
            .ok_or(OAuthFailure::InvalidState)?;
        let signed_in = self.auth.open_session(user_id, amr, client).await;
        event("oauth_exchange", SignIn::outcome_of(&signed_in).name());
        signed_in
    }

    /// A first login with this identity: a new user, or — only when allowed
    /// and both sides verified the email — the local account with that email.
    /// An address the provider did not verify never creates or claims an
    /// account: it would let anyone pre-register someone else's address.
    async fn first_login(
        &self,
        provider_name: &ProviderName,
        identity: &ExternalIdentity,
    ) -> Result<UserId, AuthError> {
        let email = identity
            .email
            .as_deref()
            .and_then(|e| Email::parse(e).ok())
            .ok_or(OAuthFailure::NoEmail)?;
        if !identity.email_verified {
            return Err(OAuthFailure::EmailUnverified.into());
        }
        if let Some(existing) = self.users.find_by_email(&email).await? {
            if !(self.settings.link_verified_email
                && identity.email_verified
                && existing.email_verified)
            {
                return Err(OAuthFailure::AccountExists.into());
            }
            self.link(existing.id, provider_name, identity).await?;
            return Ok(existing.id);
        }
        let name = identity
            .name
            .as_deref()
            .and_then(|n| DisplayName::parse(n).ok())
            .or_else(|| DisplayName::parse(email.as_str().split('@').next().unwrap_or("user")).ok())
            .unwrap_or_else(|| DisplayName::parse("user").expect("a valid name"));
        let user = self
            .users
            .create(NewUser {
                id: UserId::new(),
                email: email.clone(),
                name,
                email_verified: identity.email_verified,
                password_hash: None,
            })
            .await
            .map_err(|e| match e {
                // Registered concurrently: the same conflict as above.
                RepoError::EmailTaken => AuthError::OAuth(OAuthFailure::AccountExists),
                other => other.into(),
            })?;
        self.link(user.id, provider_name, identity).await?;
        tracing::info!(user_id = %user.id, "user created from an external identity");
        Ok(user.id)
    }

    async fn link(
        &self,
        user_id: UserId,
        provider_name: &ProviderName,
        identity: &ExternalIdentity,
    ) -> Result<OAuthAccount, AuthError> {
        if let Some(existing) = self
            .accounts
            .find_by_subject(provider_name, &identity.subject)
            .await?
        {
            return Err(if existing.user_id == user_id {
                OAuthFailure::AlreadyLinked
            } else {
                OAuthFailure::LinkedElsewhere
            }
            .into());
        }
        self.accounts
            .link(NewOAuthAccount {
                user_id,
                provider: provider_name.clone(),
                subject: identity.subject.clone(),
                email: identity.email.clone(),
            })
            .await
            .map_err(|e| match e {
                RepoError::OAuthAccountTaken => AuthError::OAuth(OAuthFailure::AlreadyLinked),
                other => other.into(),
            })
    }

    pub async fn accounts(&self, user_id: UserId) -> Result<Vec<OAuthAccount>, AuthError> {
        Ok(self.accounts.list_for_user(user_id).await?)
    }

    /// Unlinks a provider, unless it is the user's last way to sign in.
    pub async fn unlink(
        &self,
        user_id: UserId,
        provider_name: &ProviderName,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let accounts = self.accounts.list_for_user(user_id).await?;
        if !accounts.iter().any(|a| &a.provider == provider_name) {
            return Err(AuthError::NotFound(Resource::LinkedProvider));
        }
        let has_password = self
            .users
            .credentials_by_id(user_id)
            .await?
            .is_some_and(|c| c.password_hash.is_some());
        if !has_password && accounts.len() == 1 {
            return Err(OAuthFailure::LastSignInMethod.into());
        }
        if !self.accounts.unlink(user_id, provider_name).await? {
            return Err(AuthError::NotFound(Resource::LinkedProvider));
        }
        tracing::info!(%user_id, provider = %provider_name, "provider unlinked");
        self.audit
            .record(
                AuditKind::OauthUnlink,
                Outcome::Success,
                Some(user_id),
                client,
            )
            .await;
        Ok(())
    }
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().filter(|c| !c.is_control()).take(max).collect()
}
