//! The OpenID provider: the authorization code flow on top of the browser
//! session (sign-in is the hosted pages'), consent, the token endpoint's
//! grants, and userinfo. Every token issued to a relying party lives in a
//! client session (a child of the browser session), so whatever ends the
//! browser session ends it, and its access tokens are checked like every
//! other token of this service.

use std::sync::Arc;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::amr::Amr;
use crate::auth::{AuthService, Principal};
use crate::client_info::ClientInfo;
use crate::clients::ClientService;
use crate::error::{AuthError, RepoError};
use crate::ids::ClientId;
use crate::introspection::{ActiveClientToken, Introspected, TokenKind};
use crate::oidc::{
    AuthorizeParams, ErrorCode, PageRefusal, RedirectError, Refusal, Scope, Scopes, error_redirect,
    redirect_with, s256_challenge,
};
use crate::ports::{
    ApiClient, NewCode, Prompt, ProviderRepository, Redeemed, Redemption, StoredRequest,
};
use crate::refresh::RefreshToken;
use crate::tokens::{Claimed, IdSubject, IdTokens};
use crate::user::{Profile, Session, User};

/// The prefix of a pushed request's `request_uri` (RFC 9126 §2.2).
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// `acr` values, when a client asks for one: whether a second factor was used.
pub const ACR_MFA: &str = "urn:codezest-auth:acr:mfa";
pub const ACR_SINGLE_FACTOR: &str = "urn:codezest-auth:acr:single-factor";

/// Lifetimes of the provider's state.
#[derive(Debug, Clone, Copy)]
pub struct ProviderSettings {
    /// An authorization request waiting for sign-in and consent.
    pub request_ttl: time::Duration,
    /// A pushed request (RFC 9126) and an authorization code.
    pub code_ttl: time::Duration,
}

impl Default for ProviderSettings {
    fn default() -> Self {
        Self {
            request_ttl: time::Duration::minutes(10),
            code_ttl: time::Duration::seconds(60),
        }
    }
}

/// What the browser does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorization {
    /// Sign in (again, when `force`: `prompt=login`, `max_age`, or another
    /// user than the hint names), then come back to the request.
    SignIn {
        request: Uuid,
        force: bool,
        login_hint: Option<String>,
        ui_locales: Option<String>,
    },
    /// Ask the user.
    Consent {
        request: Uuid,
        client_name: String,
        scopes: Scopes,
        ui_locales: Option<String>,
        /// Where the answer goes (the consent form's CSP must allow it).
        redirect_uri: String,
    },
    /// Back to the client: a code, or an error.
    Redirect(String),
}

/// A request checked and kept, or refused to the client.
enum Begun {
    Kept(Box<(ApiClient, StoredRequest)>),
    Refused(String),
}

/// Why the authorization endpoint answers with a page.
#[derive(Debug)]
pub enum AuthorizeError {
    Page(PageRefusal),
    Failed(AuthError),
}

impl From<AuthError> for AuthorizeError {
    fn from(error: AuthError) -> Self {
        Self::Failed(error)
    }
}

impl From<RepoError> for AuthorizeError {
    fn from(error: RepoError) -> Self {
        Self::Failed(error.into())
    }
}

/// The token endpoint's refusals (RFC 6749 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
}

impl GrantErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
        }
    }
}

#[derive(Debug)]
pub enum GrantError {
    Refused(GrantErrorCode, &'static str),
    Failed(AuthError),
}

impl From<AuthError> for GrantError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::InvalidClient => Self::Refused(
                GrantErrorCode::InvalidClient,
                "client authentication failed",
            ),
            AuthError::Denied(_) | AuthError::TokenReused => Self::Refused(
                GrantErrorCode::InvalidGrant,
                "the refresh token is invalid, expired or revoked",
            ),
            other => Self::Failed(other),
        }
    }
}

impl From<RepoError> for GrantError {
    fn from(error: RepoError) -> Self {
        Self::Failed(error.into())
    }
}

fn refused(code: GrantErrorCode, description: &'static str) -> GrantError {
    GrantError::Refused(code, description)
}

/// How the client authenticated at the token endpoint.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    pub client_id: String,
    /// `None`: a public client (`none`).
    pub secret: Option<String>,
}

/// The token endpoint's form, as sent.
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
}

/// What the token endpoint answers (RFC 6749 §5.1, OIDC Core §3.1.3.3).
#[derive(Debug)]
pub struct Tokens {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: Option<RefreshToken>,
    pub id_token: Option<String>,
    pub scopes: Scopes,
}

/// Userinfo's claims, by scope (OIDC Core §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub sub: String,
    pub name: Option<String>,
    pub picture: Option<String>,
    pub website: Option<String>,
    pub updated_at: Option<i64>,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub roles: Option<Vec<String>>,
}

/// `/oauth2/logout`'s parameters, as sent (RP-initiated logout 1.0 §2).
#[derive(Debug, Clone, Default)]
pub struct LogoutParams {
    pub id_token_hint: Option<String>,
    pub client_id: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
}

/// What a logout request amounts to, once checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutPlan {
    /// Where to send the browser afterwards (a registered post-logout URI,
    /// with `state`); `None`: this service's own signed-out page.
    pub redirect: Option<String>,
    /// The user the `id_token_hint` names: a browser signed in as them is
    /// signed out at once; anyone else is asked first.
    pub hinted_user: Option<crate::ids::UserId>,
    /// The client named or hinted, for a confirmation form to carry.
    pub client_id: Option<ClientId>,
}

/// An application the user allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedApp {
    pub client_id: ClientId,
    pub name: String,
    pub scopes: Scopes,
    pub granted_at: OffsetDateTime,
}

pub struct ProviderService {
    repo: Arc<dyn ProviderRepository>,
    clients: Arc<ClientService>,
    auth: Arc<AuthService>,
    id_tokens: IdTokens,
    settings: ProviderSettings,
}

impl ProviderService {
    pub fn new(
        repo: Arc<dyn ProviderRepository>,
        clients: Arc<ClientService>,
        auth: Arc<AuthService>,
        id_tokens: IdTokens,
        settings: ProviderSettings,
    ) -> Self {
        Self {
            repo,
            clients,
            auth,
            id_tokens,
            settings,
        }
    }

    /// `iss` of everything the provider says.
    pub fn issuer(&self) -> &str {
        self.id_tokens.issuer().as_str()
    }

    /// A client that signs users in, or none.
    async fn relying_party(&self, raw: Option<&str>) -> Result<ApiClient, AuthorizeError> {
        let id: ClientId = raw
            .and_then(|raw| raw.parse().ok())
            .ok_or(AuthorizeError::Page(PageRefusal::UnknownClient))?;
        self.clients
            .find(id)
            .await?
            .filter(|client| !client.settings.redirect_uris.is_empty())
            .ok_or(AuthorizeError::Page(PageRefusal::UnknownClient))
    }

    fn error_to(
        &self,
        request: &StoredRequest,
        code: ErrorCode,
        why: &'static str,
    ) -> Authorization {
        let error = RedirectError {
            code,
            description: why,
        };
        Authorization::Redirect(error_redirect(
            &request.redirect_uri,
            &error,
            request.state.as_deref(),
            self.issuer(),
        ))
    }

    /// `GET /oauth2/authorize`: checks the request, keeps it, and says what
    /// comes next for the browser signed in as `principal`.
    pub async fn authorize(
        &self,
        params: AuthorizeParams,
        principal: Option<Principal>,
    ) -> Result<Authorization, AuthorizeError> {
        match self.begin(params).await? {
            Begun::Kept(kept) => {
                let (client, request) = *kept;
                self.next(&client, request, principal, OffsetDateTime::now_utc())
                    .await
            }
            Begun::Refused(redirect) => Ok(Authorization::Redirect(redirect)),
        }
    }

    /// `POST /oauth2/authorize`: checks and keeps the request, without
    /// looking at the browser (a cross-site POST carries no `SameSite=Lax`
    /// cookie): the browser follows up with a GET of the kept request
    /// ([`ProviderService::resume`]). `Err(redirect)`: refused to the client.
    pub async fn keep(
        &self,
        params: AuthorizeParams,
    ) -> Result<Result<Uuid, String>, AuthorizeError> {
        Ok(match self.begin(params).await? {
            Begun::Kept(kept) => Ok(kept.1.id),
            Begun::Refused(redirect) => Err(redirect),
        })
    }

    async fn begin(&self, params: AuthorizeParams) -> Result<Begun, AuthorizeError> {
        let now = OffsetDateTime::now_utc();
        let client = self.relying_party(params.client_id.as_deref()).await?;
        if let Some(uri) = params.request_uri.as_deref() {
            let id = uri
                .strip_prefix(REQUEST_URI_PREFIX)
                .and_then(|id| id.parse::<Uuid>().ok())
                .ok_or(AuthorizeError::Page(PageRefusal::InvalidRequestUri))?;
            let request = self
                .repo
                .take_pushed(id, client.id, now)
                .await?
                .ok_or(AuthorizeError::Page(PageRefusal::InvalidRequestUri))?;
            return Ok(Begun::Kept(Box::new((client, request))));
        }
        let request = match self.checked(&client, params, now, false) {
            Ok(request) => request,
            Err(Refusal::Page(page)) => return Err(AuthorizeError::Page(page)),
            Err(Refusal::Redirect {
                redirect_uri,
                state,
                error,
            }) => {
                return Ok(Begun::Refused(error_redirect(
                    &redirect_uri,
                    &error,
                    state.as_deref(),
                    self.issuer(),
                )));
            }
        };
        self.repo.save_request(&request).await?;
        Ok(Begun::Kept(Box::new((client, request))))
    }

    /// `POST /oauth2/par`: a pushed request, checked now and used once
    /// within `code_ttl`; the `request_uri` to send the browser with.
    pub async fn push(
        &self,
        credentials: ClientCredentials,
        params: AuthorizeParams,
    ) -> Result<(String, i64), GrantError> {
        let now = OffsetDateTime::now_utc();
        let client = self.authenticate_client(&credentials).await?;
        if params.request_uri.is_some() {
            return Err(refused(
                GrantErrorCode::InvalidRequest,
                "request_uri cannot be pushed",
            ));
        }
        if params
            .client_id
            .as_deref()
            .is_some_and(|id| id != credentials.client_id)
        {
            return Err(refused(
                GrantErrorCode::InvalidRequest,
                "client_id does not match the authenticated client",
            ));
        }
        let request = match self.checked(&client, params, now, true) {
            Ok(request) => request,
            Err(Refusal::Page(_)) => {
                return Err(refused(
                    GrantErrorCode::InvalidRequest,
                    "redirect_uri is missing or not registered for this client",
                ));
            }
            Err(Refusal::Redirect { error, .. }) => {
                return Err(refused(
                    match error.code {
                        ErrorCode::InvalidScope => GrantErrorCode::InvalidScope,
                        _ => GrantErrorCode::InvalidRequest,
                    },
                    error.description,
                ));
            }
        };
        self.repo.save_request(&request).await?;
        Ok((
            format!("{REQUEST_URI_PREFIX}{}", request.id),
            self.settings.code_ttl.whole_seconds(),
        ))
    }

    /// The request checked and ready to keep (its `id_token_hint` read).
    fn checked(
        &self,
        client: &ApiClient,
        params: AuthorizeParams,
        now: OffsetDateTime,
        pushed: bool,
    ) -> Result<StoredRequest, Refusal> {
        let checked = params.check(&client.settings, client.is_public())?;
        let hinted_user = match checked.id_token_hint.as_deref() {
            None => None,
            Some(hint) => match self.id_tokens.read_hint(hint, client.id) {
                Ok(claims) => Some(claims.user_id()),
                Err(_) => {
                    return Err(Refusal::Redirect {
                        redirect_uri: checked.redirect_uri,
                        state: checked.state,
                        error: RedirectError {
                            code: ErrorCode::InvalidRequest,
                            description: "id_token_hint is not an ID token issued to this client",
                        },
                    });
                }
            },
        };
        let ttl = if pushed {
            self.settings.code_ttl
        } else {
            self.settings.request_ttl
        };
        Ok(StoredRequest {
            id: Uuid::now_v7(),
            client_id: client.id,
            redirect_uri: checked.redirect_uri,
            scopes: checked.scopes,
            state: checked.state,
            nonce: checked.nonce,
            code_challenge: checked.code_challenge,
            prompt: Prompt {
                none: checked.prompt.none,
                login: checked.prompt.login,
                consent: checked.prompt.consent,
            },
            max_age: checked.max_age,
            login_hint: checked.login_hint,
            ui_locales: checked.ui_locales,
            hinted_user,
            acr_values: checked.acr_values,
            pushed,
            created_at: now,
            expires_at: now + ttl,
        })
    }

    /// The kept request `id`, after a sign-in: what comes next.
    pub async fn resume(
        &self,
        id: Uuid,
        principal: Option<Principal>,
    ) -> Result<Authorization, AuthorizeError> {
        let now = OffsetDateTime::now_utc();
        let request = self
            .repo
            .find_request(id, now)
            .await?
            .ok_or(AuthorizeError::Page(PageRefusal::RequestExpired))?;
        let client = self
            .relying_party(Some(&request.client_id.to_string()))
            .await?;
        self.next(&client, request, principal, now).await
    }

    /// The user's answer on the consent page.
    pub async fn decide(
        &self,
        id: Uuid,
        principal: Option<Principal>,
        allow: bool,
    ) -> Result<Authorization, AuthorizeError> {
        let now = OffsetDateTime::now_utc();
        let request = self
            .repo
            .find_request(id, now)
            .await?
            .ok_or(AuthorizeError::Page(PageRefusal::RequestExpired))?;
        let client = self
            .relying_party(Some(&request.client_id.to_string()))
            .await?;
        let Some(principal) = self.signed_in(&request, principal, now).await? else {
            return self.next(&client, request, principal, now).await;
        };
        self.repo.delete_request(request.id).await?;
        if !allow {
            return Ok(self.error_to(
                &request,
                ErrorCode::AccessDenied,
                "the user did not allow the request",
            ));
        }
        self.repo
            .save_grant(principal.user_id, client.id, request.scopes)
            .await?;
        tracing::info!(user_id = %principal.user_id, client_id = %client.id, scopes = %request.scopes, "consent given");
        self.code_for(&request, &principal, now).await
    }

    /// The principal, when it satisfies the request's sign-in conditions.
    async fn signed_in(
        &self,
        request: &StoredRequest,
        principal: Option<Principal>,
        now: OffsetDateTime,
    ) -> Result<Option<Principal>, AuthError> {
        let Some(principal) = principal.filter(|p| p.client.is_none()) else {
            return Ok(None);
        };
        let too_old = request
            .max_age
            .is_some_and(|max| now - principal.signed_in_at > time::Duration::seconds(max));
        let not_again = request.prompt.login && principal.signed_in_at < request.created_at;
        let someone_else = request
            .hinted_user
            .is_some_and(|hinted| hinted != principal.user_id);
        if too_old || not_again || someone_else {
            return Ok(None);
        }
        match self.auth.user(&principal).await {
            Ok(_) => Ok(Some(principal)),
            Err(AuthError::Denied(_)) => Ok(None),
            Err(error) => Err(error),
        }
    }

    async fn next(
        &self,
        client: &ApiClient,
        request: StoredRequest,
        principal: Option<Principal>,
        now: OffsetDateTime,
    ) -> Result<Authorization, AuthorizeError> {
        let Some(principal) = self.signed_in(&request, principal, now).await? else {
            if request.prompt.none {
                self.repo.delete_request(request.id).await?;
                return Ok(self.error_to(
                    &request,
                    ErrorCode::LoginRequired,
                    "the user is not signed in (as asked)",
                ));
            }
            return Ok(Authorization::SignIn {
                request: request.id,
                force: principal.is_some(),
                login_hint: request.login_hint,
                ui_locales: request.ui_locales,
            });
        };
        let needs_consent = !client.settings.first_party
            && (request.prompt.consent
                || !self
                    .repo
                    .grant(principal.user_id, client.id)
                    .await?
                    .is_some_and(|grant| request.scopes.is_subset(grant.scopes)));
        if needs_consent {
            if request.prompt.none {
                self.repo.delete_request(request.id).await?;
                return Ok(self.error_to(
                    &request,
                    ErrorCode::ConsentRequired,
                    "the user has not allowed this client these scopes",
                ));
            }
            return Ok(Authorization::Consent {
                request: request.id,
                client_name: client.name.as_str().to_owned(),
                scopes: request.scopes,
                ui_locales: request.ui_locales,
                redirect_uri: request.redirect_uri,
            });
        }
        self.repo.delete_request(request.id).await?;
        self.code_for(&request, &principal, now).await
    }

    async fn code_for(
        &self,
        request: &StoredRequest,
        principal: &Principal,
        now: OffsetDateTime,
    ) -> Result<Authorization, AuthorizeError> {
        let code = RefreshToken::random();
        self.repo
            .save_code(&NewCode {
                hash: code.hash(),
                client_id: request.client_id,
                redirect_uri: request.redirect_uri.clone(),
                code_challenge: request.code_challenge.clone(),
                user_id: principal.user_id,
                session_id: principal.session_id,
                scopes: request.scopes,
                nonce: request.nonce.clone(),
                acr_requested: request.acr_values.is_some(),
                expires_at: now + self.settings.code_ttl,
            })
            .await?;
        Ok(Authorization::Redirect(redirect_with(
            &request.redirect_uri,
            &[("code", code.expose())],
            request.state.as_deref(),
            self.issuer(),
        )))
    }

    /// `client_secret_basic`, `client_secret_post`, or `none` for a public
    /// client; a confidential client must present its secret.
    async fn authenticate_client(
        &self,
        credentials: &ClientCredentials,
    ) -> Result<ApiClient, GrantError> {
        match credentials.secret.as_deref() {
            Some(secret) => Ok(self
                .clients
                .authenticate(&credentials.client_id, secret)
                .await?),
            None => {
                let id: ClientId = credentials
                    .client_id
                    .parse()
                    .map_err(|_| AuthError::InvalidClient)?;
                self.clients
                    .find(id)
                    .await?
                    .filter(ApiClient::is_public)
                    .ok_or_else(|| AuthError::InvalidClient.into())
            }
        }
    }

    /// `POST /oauth2/token`.
    pub async fn token(
        &self,
        credentials: ClientCredentials,
        request: TokenRequest,
        client_info: &ClientInfo,
    ) -> Result<Tokens, GrantError> {
        let client = self.authenticate_client(&credentials).await?;
        match request.grant_type.as_deref() {
            Some("authorization_code") => self.exchange_code(&client, request, client_info).await,
            Some("refresh_token") => self.refresh(&client, request, client_info).await,
            Some("client_credentials") => self.client_credentials(&client, request),
            None => Err(refused(
                GrantErrorCode::InvalidRequest,
                "grant_type is missing",
            )),
            Some(_) => Err(refused(
                GrantErrorCode::UnsupportedGrantType,
                "grant_type must be authorization_code, refresh_token or client_credentials",
            )),
        }
    }

    /// RFC 6749 §4.4: a confidential client's token for itself (`sub` is the
    /// client, no session, no refresh token), scopes within its own — never
    /// `openid` or `offline_access`, which are about a user. No storage is
    /// touched: the client was authenticated from the cache.
    fn client_credentials(
        &self,
        client: &ApiClient,
        request: TokenRequest,
    ) -> Result<Tokens, GrantError> {
        if client.is_public() {
            return Err(refused(
                GrantErrorCode::UnauthorizedClient,
                "a public client cannot use client_credentials",
            ));
        }
        let user_scopes: Scopes = [Scope::OpenId, Scope::OfflineAccess].into_iter().collect();
        let allowed = client
            .settings
            .scopes
            .intersection(Scopes::all().difference(user_scopes));
        let scopes = match request.scope.as_deref() {
            None => allowed,
            Some(raw) => {
                let (asked, _) = Scopes::parse_lenient(raw);
                if !asked.is_subset(allowed) {
                    return Err(refused(
                        GrantErrorCode::InvalidScope,
                        "client_credentials tokens carry only the client's scopes, never openid or offline_access",
                    ));
                }
                asked
            }
        };
        let access_tokens = self.auth.access_tokens();
        let access_token = access_tokens
            .issue_for_client(client.id, scopes, OffsetDateTime::now_utc())
            .map_err(|e| GrantError::Failed(e.into()))?;
        Ok(Tokens {
            access_token,
            expires_in: access_tokens.access_ttl().whole_seconds(),
            refresh_token: None,
            id_token: None,
            scopes,
        })
    }

    /// RFC 7662 for `caller`: a token active now, if `caller` may see it — a
    /// relying party (a client with redirect URIs) only its own tokens; an
    /// API client (a resource server) every token.
    pub async fn introspect(
        &self,
        caller: &ApiClient,
        token: &str,
        hint: Option<TokenKind>,
    ) -> Result<Option<Introspected>, AuthError> {
        let found = match self.auth.introspect(token, hint).await? {
            Some(active) => Some(Introspected::User(active)),
            None => self
                .active_client_token(token)
                .await?
                .map(Introspected::Client),
        };
        Ok(found.filter(|found| {
            let owner = match found {
                Introspected::User(active) => active.owner(),
                Introspected::Client(active) => Some(active.client_id),
            };
            caller.settings.redirect_uris.is_empty() || owner == Some(caller.id)
        }))
    }

    /// A `client_credentials` token: signed, unexpired, its client still
    /// registered, not revoked.
    async fn active_client_token(
        &self,
        token: &str,
    ) -> Result<Option<ActiveClientToken>, AuthError> {
        let Ok(claims) = self.auth.access_tokens().verify_client(token) else {
            return Ok(None);
        };
        let Some(client_id) = claims.client() else {
            return Ok(None);
        };
        if self.clients.find(client_id).await?.is_none()
            || self.repo.client_token_revoked(claims.jti).await?
        {
            return Ok(None);
        }
        Ok(Some(ActiveClientToken {
            jti: claims.jti,
            client_id,
            scopes: Scopes::parse_lenient(&claims.scope).0,
            exp: claims.exp,
            iat: claims.iat,
        }))
    }

    /// RFC 7009 for `caller`: ends what [`ProviderService::introspect`] would
    /// show it — a user token's session (on every instance at once), or a
    /// `client_credentials` token (remembered as revoked until it expires).
    /// Anything else answers the same, having done nothing.
    pub async fn revoke(
        &self,
        caller: &ApiClient,
        token: &str,
        hint: Option<TokenKind>,
        client_info: &ClientInfo,
    ) -> Result<(), AuthError> {
        match self.introspect(caller, token, hint).await? {
            None => Ok(()),
            Some(Introspected::User(_)) => self.auth.revoke_token(token, hint, client_info).await,
            Some(Introspected::Client(active)) => {
                let expires_at = OffsetDateTime::from_unix_timestamp(active.exp)
                    .unwrap_or_else(|_| OffsetDateTime::now_utc());
                self.repo
                    .revoke_client_token(active.jti, active.client_id, expires_at)
                    .await?;
                tracing::info!(client_id = %active.client_id, "client_credentials token revoked");
                Ok(())
            }
        }
    }

    async fn exchange_code(
        &self,
        client: &ApiClient,
        request: TokenRequest,
        client_info: &ClientInfo,
    ) -> Result<Tokens, GrantError> {
        const BAD_CODE: &str =
            "the code is invalid, expired, used, or issued to another client or redirect URI";
        let now = OffsetDateTime::now_utc();
        let code = request
            .code
            .as_deref()
            .ok_or(refused(GrantErrorCode::InvalidRequest, "code is missing"))?;
        let redirect_uri = request.redirect_uri.ok_or(refused(
            GrantErrorCode::InvalidRequest,
            "redirect_uri is missing",
        ))?;
        let code_challenge = match request.code_verifier.as_deref() {
            None => None,
            Some(verifier) => Some(s256_challenge(verifier).ok_or(refused(
                GrantErrorCode::InvalidGrant,
                "code_verifier must be 43 to 128 unreserved characters",
            ))?),
        };
        let code =
            RefreshToken::parse(code).ok_or(refused(GrantErrorCode::InvalidGrant, BAD_CODE))?;
        let refresh_token = self.auth.new_refresh_token();
        let redeemed = self
            .repo
            .redeem(&Redemption {
                hash: code.hash(),
                client_id: client.id,
                redirect_uri,
                code_challenge,
                session_id: crate::ids::SessionId::new(),
                refresh_token_hash: refresh_token.hash(),
                user_agent: client_info.user_agent.clone(),
                ip: client_info.ip,
                now,
            })
            .await?;
        let (session, signed_in_at, nonce, acr_requested) = match redeemed {
            Redeemed::Opened {
                session,
                signed_in_at,
                nonce,
                acr_requested,
            } => (session, signed_in_at, nonce, acr_requested),
            Redeemed::Reused { ended } => {
                tracing::warn!(client_id = %client.id, sessions = ended.len(), "authorization code used twice; what it issued is revoked");
                return Err(refused(GrantErrorCode::InvalidGrant, BAD_CODE));
            }
            Redeemed::Refused => return Err(refused(GrantErrorCode::InvalidGrant, BAD_CODE)),
        };
        let user = self.user_of(&session, signed_in_at).await?;
        let id_token_nonce = nonce.as_deref();
        self.tokens_for(
            client,
            &session,
            &user,
            signed_in_at,
            refresh_token,
            Some((id_token_nonce, acr_requested)),
            now,
        )
    }

    async fn refresh(
        &self,
        client: &ApiClient,
        request: TokenRequest,
        client_info: &ClientInfo,
    ) -> Result<Tokens, GrantError> {
        let now = OffsetDateTime::now_utc();
        let presented = request.refresh_token.as_deref().ok_or(refused(
            GrantErrorCode::InvalidRequest,
            "refresh_token is missing",
        ))?;
        let (session, successor, user) = self
            .auth
            .rotate_refresh(presented, Some(client.id), client_info, now)
            .await?;
        let Some(granted) = session.client else {
            return Err(refused(
                GrantErrorCode::InvalidGrant,
                "not a client's refresh token",
            ));
        };
        // A narrower scope may be asked for, never a wider one (RFC 6749 §6).
        if let Some(raw) = request.scope.as_deref() {
            let (asked, _) = Scopes::parse_lenient(raw);
            if !asked.is_subset(granted.scopes) {
                return Err(refused(
                    GrantErrorCode::InvalidScope,
                    "the scope asked for exceeds what was granted",
                ));
            }
        }
        let parent = self.auth.session(granted.parent_id).await?;
        let signed_in_at = parent.map_or(session.created_at, |p| p.created_at);
        self.tokens_for(client, &session, &user, signed_in_at, successor, None, now)
    }

    async fn user_of(
        &self,
        session: &Session,
        signed_in_at: OffsetDateTime,
    ) -> Result<User, GrantError> {
        let principal = Principal {
            user_id: session.user_id,
            session_id: session.id,
            signed_in_at,
            client: session.client,
        };
        match self.auth.user(&principal).await {
            Ok(user) => Ok(user),
            Err(AuthError::Denied(_)) => Err(refused(
                GrantErrorCode::InvalidGrant,
                "the account is disabled or gone",
            )),
            Err(error) => Err(GrantError::Failed(error)),
        }
    }

    /// The access token (and ID token, for `openid`; refresh token, for
    /// `offline_access` or a first-party client) of a client session.
    #[allow(clippy::too_many_arguments)]
    fn tokens_for(
        &self,
        client: &ApiClient,
        session: &Session,
        user: &User,
        signed_in_at: OffsetDateTime,
        refresh_token: RefreshToken,
        id_token: Option<(Option<&str>, bool)>,
        now: OffsetDateTime,
    ) -> Result<Tokens, GrantError> {
        let Some(granted) = session.client else {
            return Err(refused(
                GrantErrorCode::InvalidGrant,
                "not a client session",
            ));
        };
        let scopes = granted.scopes;
        let keys = self.auth.access_tokens();
        let no_roles: &[String] = &[];
        let access_token = keys
            .issue(
                user.id,
                session.id,
                signed_in_at,
                session.amr,
                Claimed {
                    roles: if scopes.contains(Scope::Roles) {
                        &user.roles
                    } else {
                        no_roles
                    },
                    email_verified: user.email_verified,
                    client: Some((client.id, scopes)),
                },
                now,
            )
            .map_err(|e| GrantError::Failed(e.into()))?;
        let id_token = match id_token {
            Some((nonce, acr_requested)) if scopes.is_openid() => Some(
                self.id_tokens
                    .issue(
                        client.settings.id_token_algorithm,
                        IdSubject {
                            user: user.id,
                            client: client.id,
                            session: granted.parent_id,
                            signed_in_at,
                            amr: session.amr,
                            nonce,
                            access_token: Some(&access_token),
                            acr: acr_requested.then(|| acr_of(session.amr)),
                        },
                        now,
                    )
                    .map_err(|e| GrantError::Failed(e.into()))?,
            ),
            _ => None,
        };
        let offline = scopes.contains(Scope::OfflineAccess) || client.settings.first_party;
        tracing::info!(client_id = %client.id, session_id = %session.id, "tokens issued to a relying party");
        Ok(Tokens {
            access_token,
            expires_in: keys.access_ttl().whole_seconds(),
            refresh_token: offline.then_some(refresh_token),
            id_token,
            scopes,
        })
    }

    /// The applications the user allowed, newest first.
    pub async fn grants(&self, principal: &Principal) -> Result<Vec<AllowedApp>, AuthError> {
        let mut apps = Vec::new();
        for grant in self.repo.grants(principal.user_id).await? {
            // A deleted client took its grants with it; a race leaves none to show.
            if let Some(client) = self.clients.find(grant.client_id).await? {
                apps.push(AllowedApp {
                    client_id: client.id,
                    name: client.name.as_str().to_owned(),
                    scopes: grant.scopes,
                    granted_at: grant.granted_at,
                });
            }
        }
        Ok(apps)
    }

    /// Forgets the user's consent for `client` and ends that client's
    /// sessions (its tokens stop working on every instance at once).
    pub async fn revoke_grant(
        &self,
        principal: &Principal,
        client: ClientId,
    ) -> Result<(), AuthError> {
        let ended = self
            .repo
            .revoke_grant(principal.user_id, client)
            .await?
            .ok_or(AuthError::NotFound(crate::error::Resource::Grant))?;
        tracing::info!(user_id = %principal.user_id, client_id = %client, sessions = ended.len(), "consent revoked");
        Ok(())
    }

    /// Checks an RP-initiated logout: the client (named, or the hint's
    /// audience), its hint, and the post-logout URI — registered, byte for
    /// byte — it may be sent to. A refusal is a page: the browser goes nowhere.
    pub async fn logout_plan(&self, params: LogoutParams) -> Result<LogoutPlan, AuthorizeError> {
        let named = match params.client_id.as_deref().filter(|id| !id.is_empty()) {
            Some(raw) => Some(self.relying_party(Some(raw)).await?),
            None => None,
        };
        let mut hinted_user = None;
        let mut client = named;
        if let Some(hint) = params.id_token_hint.as_deref().filter(|h| !h.is_empty()) {
            // The hint says whose it is; a named client must be its audience.
            let audience = jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(hint)
                .ok()
                .and_then(|data| data.claims.get("aud")?.as_str().map(str::to_owned));
            let owner = match (&client, audience) {
                (Some(client), _) => client.clone(),
                (None, Some(aud)) => self.relying_party(Some(&aud)).await?,
                (None, None) => return Err(AuthorizeError::Page(PageRefusal::InvalidIdTokenHint)),
            };
            let claims = self
                .id_tokens
                .read_hint(hint, owner.id)
                .map_err(|_| AuthorizeError::Page(PageRefusal::InvalidIdTokenHint))?;
            hinted_user = Some(claims.user_id());
            client = Some(owner);
        }
        let redirect = match params
            .post_logout_redirect_uri
            .as_deref()
            .filter(|uri| !uri.is_empty())
        {
            None => None,
            Some(presented) => {
                let registered = client
                    .as_ref()
                    .and_then(|client| client.settings.post_logout_redirect_uri(presented))
                    .ok_or(AuthorizeError::Page(PageRefusal::PostLogoutUriMismatch))?;
                let mut url = registered.as_url().clone();
                if let Some(state) = params.state.as_deref().filter(|s| !s.is_empty()) {
                    url.query_pairs_mut().append_pair("state", state);
                }
                Some(url.to_string())
            }
        };
        Ok(LogoutPlan {
            redirect,
            hinted_user,
            client_id: client.map(|client| client.id),
        })
    }

    /// `/oauth2/userinfo`: the claims the token's scopes allow, from the
    /// cached user and profile. A relying party's token needs `openid`.
    pub async fn userinfo(&self, principal: &Principal) -> Result<Option<UserInfo>, AuthError> {
        let scopes = principal.client.map_or_else(Scopes::all, |c| c.scopes);
        if !scopes.is_openid() {
            return Ok(None);
        }
        let (user, profile) = self.auth.me(principal).await?;
        Ok(Some(user_info(&user, profile.as_ref(), scopes)))
    }
}

fn acr_of(amr: Amr) -> &'static str {
    if amr.contains(Amr::MFA) {
        ACR_MFA
    } else {
        ACR_SINGLE_FACTOR
    }
}

fn user_info(user: &User, profile: Option<&Profile>, scopes: Scopes) -> UserInfo {
    let profile_scope = scopes.contains(Scope::Profile);
    let email_scope = scopes.contains(Scope::Email);
    UserInfo {
        sub: user.id.to_string(),
        name: profile_scope.then(|| user.name.as_str().to_owned()),
        picture: profile
            .filter(|_| profile_scope)
            .and_then(|p| p.avatar_url.clone()),
        website: profile
            .filter(|_| profile_scope)
            .and_then(|p| p.website.clone()),
        updated_at: profile_scope.then(|| {
            profile
                .map_or(user.updated_at, |p| p.updated_at.max(user.updated_at))
                .unix_timestamp()
        }),
        email: email_scope.then(|| user.email.as_str().to_owned()),
        email_verified: email_scope.then_some(user.email_verified),
        roles: scopes.contains(Scope::Roles).then(|| user.roles.clone()),
    }
}
