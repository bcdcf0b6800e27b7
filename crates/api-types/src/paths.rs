//! Every route of the API, one constant each (as kanidm's
//! `proto/src/constants/uri.rs`): the server registers its handlers under
//! them and the tests, the bench and clients build their URLs from them.
//! `{name}` segments are filled with [`fill`].

/// `path` with its `{…}` segments replaced, in order, by `values`.
///
/// ```
/// use api_types::paths::{self, fill};
/// assert_eq!(fill(paths::SESSION, &["42"]), "/api/v1/auth/sessions/42");
/// ```
pub fn fill(path: &str, values: &[&str]) -> String {
    let mut out = String::with_capacity(path.len() + 40);
    let mut values = values.iter();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c);
        out.push_str(&rest[..open]);
        out.push_str(values.next().expect("a value for every segment"));
        rest = &rest[(close + 1).min(rest.len())..];
    }
    out.push_str(rest);
    out
}

/// Every JSON API route is below this.
pub const API: &str = "/api/v1";
/// The admin API's routes are below this.
pub const ADMIN: &str = "/api/v1/admin";
/// Sign-in with upstream providers is below this (and its binding cookie's path).
pub const OAUTH: &str = "/api/v1/auth/oauth";

// Sign-up, sign-in, tokens, sessions.
pub const REGISTER: &str = "/api/v1/auth/register";
pub const LOGIN: &str = "/api/v1/auth/login";
pub const REFRESH: &str = "/api/v1/auth/refresh";
pub const LOGOUT: &str = "/api/v1/auth/logout";
pub const LOGOUT_ALL: &str = "/api/v1/auth/logout-all";
pub const ME: &str = "/api/v1/auth/me";
pub const SESSIONS: &str = "/api/v1/auth/sessions";
pub const SESSION: &str = "/api/v1/auth/sessions/{id}";
/// The applications the user allowed (OpenID provider consents).
pub const GRANTS: &str = "/api/v1/auth/grants";
pub const GRANT: &str = "/api/v1/auth/grants/{client_id}";
pub const PASSWORD_CHANGE: &str = "/api/v1/auth/password/change";

// Forward-auth.
pub const VERIFY: &str = "/api/v1/auth/verify";

// The signed-in user.
pub const USER: &str = "/api/v1/users/me";
pub const PROFILE: &str = "/api/v1/users/me/profile";

// Recovery, verification, email change, deletion, the audit trail.
pub const PASSWORD_FORGOT: &str = "/api/v1/auth/password/forgot";
pub const PASSWORD_RESET: &str = "/api/v1/auth/password/reset";
pub const EMAIL_VERIFY_SEND: &str = "/api/v1/auth/email/verify/send";
pub const EMAIL_VERIFY: &str = "/api/v1/auth/email/verify";
pub const EMAIL_CHANGE: &str = "/api/v1/auth/email/change";
pub const EVENTS: &str = "/api/v1/auth/events";

// Second factors.
pub const MFA: &str = "/api/v1/auth/mfa";
pub const TOTP: &str = "/api/v1/auth/mfa/totp";
pub const TOTP_SETUP: &str = "/api/v1/auth/mfa/totp/setup";
pub const TOTP_CONFIRM: &str = "/api/v1/auth/mfa/totp/confirm";
pub const RECOVERY_CODES: &str = "/api/v1/auth/mfa/recovery-codes";
pub const MFA_VERIFY: &str = "/api/v1/auth/mfa/verify";
pub const MFA_WEBAUTHN_CHALLENGE: &str = "/api/v1/auth/mfa/webauthn/challenge";
pub const MFA_REMOVE_BY_LINK: &str = "/api/v1/auth/mfa/remove-by-link";

// Passkeys.
pub const PASSKEYS: &str = "/api/v1/auth/passkeys";
pub const PASSKEY: &str = "/api/v1/auth/passkeys/{id}";
pub const PASSKEY_REGISTER_START: &str = "/api/v1/auth/passkeys/register/start";
pub const PASSKEY_REGISTER_FINISH: &str = "/api/v1/auth/passkeys/register/finish";
pub const PASSKEY_LOGIN_START: &str = "/api/v1/auth/passkeys/login/start";
pub const PASSKEY_LOGIN_FINISH: &str = "/api/v1/auth/passkeys/login/finish";

// Sign-in with upstream providers.
pub const OAUTH_AUTHORIZE: &str = "/api/v1/auth/oauth/{provider}/authorize";
pub const OAUTH_CALLBACK: &str = "/api/v1/auth/oauth/{provider}/callback";
pub const OAUTH_EXCHANGE: &str = "/api/v1/auth/oauth/exchange";
pub const OAUTH_LINK: &str = "/api/v1/auth/oauth/{provider}/link";
pub const OAUTH_ACCOUNTS: &str = "/api/v1/auth/oauth/accounts";
/// `DELETE`: unlink the provider.
pub const OAUTH_PROVIDER: &str = "/api/v1/auth/oauth/{provider}";

// Administration.
pub const ADMIN_USERS: &str = "/api/v1/admin/users";
pub const ADMIN_USER: &str = "/api/v1/admin/users/{id}";
pub const ADMIN_USER_DISABLE: &str = "/api/v1/admin/users/{id}/disable";
pub const ADMIN_USER_ENABLE: &str = "/api/v1/admin/users/{id}/enable";
pub const ADMIN_USER_MFA: &str = "/api/v1/admin/users/{id}/mfa";
pub const ADMIN_USER_ROLES: &str = "/api/v1/admin/users/{id}/roles";
pub const ADMIN_USER_SESSIONS: &str = "/api/v1/admin/users/{id}/sessions";
pub const ADMIN_CLIENTS: &str = "/api/v1/admin/clients";
pub const ADMIN_CLIENT: &str = "/api/v1/admin/clients/{id}";

// For other services (OAuth 2.0).
pub const INTROSPECT: &str = "/oauth2/introspect";
pub const REVOKE: &str = "/oauth2/revoke";
pub const AUTHORIZATION_SERVER_METADATA: &str = "/.well-known/oauth-authorization-server";

// The OpenID provider.
pub const OIDC_DISCOVERY: &str = "/.well-known/openid-configuration";
/// `GET`/`POST`: the browser's; answered by the hosted pages.
pub const OIDC_AUTHORIZE: &str = "/oauth2/authorize";
pub const OIDC_PAR: &str = "/oauth2/par";
pub const OIDC_TOKEN: &str = "/oauth2/token";
pub const OIDC_USERINFO: &str = "/oauth2/userinfo";
/// `GET` (and the confirmation's `POST`): RP-initiated logout; the hosted pages'.
pub const OIDC_LOGOUT: &str = "/oauth2/logout";

// System.
pub const JWKS: &str = "/.well-known/jwks.json";
pub const HEALTHZ: &str = "/healthz";
pub const READYZ: &str = "/readyz";
pub const OPENAPI: &str = "/api-docs/openapi.json";
pub const METRICS: &str = "/metrics";

// The hosted pages (HTML, not JSON): `GET` shows a page, `POST` submits its form.
pub const UI: &str = "/ui";
/// The provider's consent page (`?request=…`), and where it resumes after sign-in.
pub const UI_CONSENT: &str = "/ui/consent";
pub const UI_SIGN_IN: &str = "/ui/sign-in";
pub const UI_SIGN_UP: &str = "/ui/sign-up";
pub const UI_SIGN_OUT: &str = "/ui/sign-out";
pub const UI_SECOND_FACTOR: &str = "/ui/second-factor";
/// Step-up: "confirm it's you" before a sensitive change.
pub const UI_CONFIRM: &str = "/ui/confirm";
pub const UI_FORGOT_PASSWORD: &str = "/ui/forgot-password";
pub const UI_RESET_PASSWORD: &str = "/ui/reset-password";
pub const UI_VERIFY_EMAIL: &str = "/ui/verify-email";
pub const UI_ACCOUNT: &str = "/ui/account";
/// Name and profile (bio, location, website, avatar URL).
pub const UI_ACCOUNT_PROFILE: &str = "/ui/account/profile";
pub const UI_ACCOUNT_EMAIL: &str = "/ui/account/email";
pub const UI_ACCOUNT_VERIFY_SEND: &str = "/ui/account/verify-email";
pub const UI_ACCOUNT_PASSWORD: &str = "/ui/account/password";
pub const UI_ACCOUNT_SESSION_REVOKE: &str = "/ui/account/sessions/revoke";
pub const UI_ACCOUNT_SESSIONS_REVOKE_OTHERS: &str = "/ui/account/sessions/revoke-others";
pub const UI_ACCOUNT_APP_REVOKE: &str = "/ui/account/apps/revoke";
pub const UI_ACCOUNT_DELETE: &str = "/ui/account/delete";
pub const UI_ACCOUNT_TOTP_SETUP: &str = "/ui/account/totp/setup";
pub const UI_ACCOUNT_TOTP_CONFIRM: &str = "/ui/account/totp/confirm";
pub const UI_ACCOUNT_TOTP_DISABLE: &str = "/ui/account/totp/disable";
pub const UI_ACCOUNT_RECOVERY_CODES: &str = "/ui/account/recovery-codes";
pub const UI_ACCOUNT_PASSKEYS: &str = "/ui/account/passkeys";
pub const UI_ACCOUNT_PASSKEY_OPTIONS: &str = "/ui/account/passkeys/options";
pub const UI_ACCOUNT_PASSKEY_RENAME: &str = "/ui/account/passkeys/rename";
pub const UI_ACCOUNT_PASSKEY_REMOVE: &str = "/ui/account/passkeys/remove";
/// Passwordless sign-in: the ceremony's options (JSON, for the pages' script), its answer.
pub const UI_PASSKEY_OPTIONS: &str = "/ui/passkeys/options";
pub const UI_PASSKEY_SIGN_IN: &str = "/ui/passkeys/sign-in";
/// The second step with a passkey: the ceremony's options.
pub const UI_SECOND_FACTOR_PASSKEY_OPTIONS: &str = "/ui/second-factor/passkey-options";
/// Sign-in and linking with an upstream provider: the forms that start them,
/// and the page the provider's callback lands on (its one-time code, or the
/// second factor's challenge, in the query).
pub const UI_FEDERATED_START: &str = "/ui/federated/start";
pub const UI_FEDERATED_LINK: &str = "/ui/federated/link";
pub const UI_FEDERATED_UNLINK: &str = "/ui/federated/unlink";
pub const UI_FEDERATED: &str = "/ui/federated";
/// The link of a "sign-in method added" notice.
pub const UI_REMOVE_SIGN_IN_METHOD: &str = "/ui/remove-sign-in-method";
/// The pages' stylesheets and script, under content-hashed names.
pub const UI_STATIC: &str = "/ui/static/{file}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_filled_in_order() {
        assert_eq!(fill(ME, &[]), ME);
        assert_eq!(fill(PASSKEY, &["abc"]), "/api/v1/auth/passkeys/abc");
        assert_eq!(
            fill(OAUTH_CALLBACK, &["github"]),
            "/api/v1/auth/oauth/github/callback"
        );
        assert_eq!(
            fill(ADMIN_USER_ROLES, &["u1"]),
            "/api/v1/admin/users/u1/roles"
        );
    }
}
