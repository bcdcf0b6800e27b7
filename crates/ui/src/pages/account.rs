//! The account page and its forms: name, email (verification, change),
//! password, sessions, recent events, deletion.

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use domain::auth::Principal;
use domain::error::AuthError;
use domain::{DisplayName, Password, SessionId};
use http_kit::limit::Limit;
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::macros::format_description;

use super::sign_in::{Empty, Landing, notice, with_notice};
use super::{FieldErrors, with_return_to};
use crate::ctx::Page;
use crate::error::UiError;
use crate::forms::Posted;
use api_types::paths;

/// How many of the account's events the page lists.
const EVENTS_SHOWN: i64 = 10;

#[derive(Serialize)]
struct SessionRow {
    id: String,
    device: String,
    address: String,
    signed_in: String,
    signed_in_iso: String,
    last_used: String,
    current: bool,
}

#[derive(Serialize)]
struct EventRow {
    what: String,
    outcome: String,
    address: String,
    when: String,
    when_iso: String,
}

pub(crate) fn human(at: OffsetDateTime) -> String {
    at.format(format_description!(
        "[year]-[month]-[day] [hour]:[minute] UTC"
    ))
    .unwrap_or_default()
}

fn iso(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Which form of the page a refusal belongs to, and its field errors.
#[derive(Default)]
struct Refused {
    form: &'static str,
    errors: FieldErrors,
    alert: Option<String>,
    /// What was typed into the refused form (never a password), shown again.
    typed: std::collections::BTreeMap<&'static str, String>,
}

pub(crate) async fn show(page: Page, Query(landing): Query<Landing>) -> Response {
    let (page, principal) = signed_in!(page, paths::UI_ACCOUNT);
    let notice = notice(&page, landing.notice.as_deref());
    account_page(page, principal, StatusCode::OK, notice, Refused::default()).await
}

async fn account_page(
    page: Page,
    principal: Principal,
    status: StatusCode,
    notice: Value,
    refused: Refused,
) -> Response {
    let state = &page.state;
    let loaded = async {
        let (user, profile) = state.auth.me(&principal).await?;
        let sessions = state.auth.list_sessions(&principal).await?;
        let events = state
            .account
            .events(principal.user_id, EVENTS_SHOWN)
            .await?;
        let mfa = state.mfa.status(&principal).await?;
        let passkeys = if state.passkeys.is_enabled() {
            state.passkeys.list(&principal).await?
        } else {
            Vec::new()
        };
        let linked = state.federation.accounts(principal.user_id).await?;
        let apps = state.provider.grants(&principal).await?;
        Ok::<_, AuthError>((user, profile, sessions, events, mfa, passkeys, linked, apps))
    };
    let (user, profile, sessions, events, mfa, passkeys, linked, apps) = match loaded.await {
        Ok(loaded) => loaded,
        Err(error) => return page.refusal(error.into()),
    };
    let unknown = page.t.text("unknown").to_owned();
    let sessions: Vec<SessionRow> = sessions
        .into_iter()
        .map(|s| SessionRow {
            id: s.id.to_string(),
            device: s.user_agent.clone().unwrap_or_else(|| unknown.clone()),
            address: s.ip.map_or_else(|| unknown.clone(), |ip| ip.to_string()),
            signed_in: human(s.created_at),
            signed_in_iso: iso(s.created_at),
            last_used: human(s.last_used_at),
            current: s.id == principal.session_id,
        })
        .collect();
    let events: Vec<EventRow> = events
        .into_iter()
        .map(|e| EventRow {
            what: page.t.text(&format!("event_{}", e.event)).to_owned(),
            outcome: page.t.text(&format!("outcome_{}", e.outcome)).to_owned(),
            address: e.ip.map_or_else(|| unknown.clone(), |ip| ip.to_string()),
            when: human(e.created_at),
            when_iso: iso(e.created_at),
        })
        .collect();
    let others = sessions.iter().any(|s| !s.current);
    let page_context = context! {
        notice,
        alert => refused.alert,
        refused_form => refused.form,
        errors => refused.errors.value(),
        typed => Value::from_serialize(&refused.typed),
        user => context! {
            name => user.name,
            email => user.email.as_str(),
            email_verified => user.email_verified,
        },
        profile => context! {
            bio => profile.as_ref().and_then(|p| p.bio.clone()).unwrap_or_default(),
            location => profile.as_ref().and_then(|p| p.location.clone()).unwrap_or_default(),
            website => profile.as_ref().and_then(|p| p.website.clone()).unwrap_or_default(),
            avatar_url => profile.as_ref().and_then(|p| p.avatar_url.clone()).unwrap_or_default(),
        },
        sessions,
        others,
        events,
        linked => linked_rows(&page, linked),
        apps => app_rows(&page, apps),
        passkeys_enabled => page.state.passkeys.is_enabled(),
        passkeys => super::passkeys::passkey_rows(&page, passkeys),
        mfa => context! {
            totp => mfa.totp,
            recovery_codes_left => mfa.recovery_codes_left,
        },
    };
    page.render(status, "account.html", page_context)
}

/// The applications the user allowed: name, what they may do, since when.
fn app_rows(page: &Page, apps: Vec<domain::provider::AllowedApp>) -> Vec<Value> {
    apps.into_iter()
        .map(|app| {
            let scopes: Vec<String> = app
                .scopes
                .iter()
                .map(|scope| page.t.text(&format!("consent_scope_{scope}")).to_owned())
                .collect();
            context! {
                client_id => app.client_id.to_string(),
                name => app.name,
                scopes,
                granted => human(app.granted_at),
                granted_iso => iso(app.granted_at),
            }
        })
        .collect()
}

#[derive(Debug, Deserialize)]
pub(crate) struct GrantForm {
    client_id: String,
}

/// Revokes an application's access: its tokens stop working at once.
pub(crate) async fn revoke_grant(page: Page, Posted(form): Posted<GrantForm>) -> Response {
    let (page, principal) = signed_in!(page, paths::UI_ACCOUNT);
    let Ok(client) = form.client_id.parse::<domain::ClientId>() else {
        return page.refusal(UiError::BadForm);
    };
    match page.state.provider.revoke_grant(&principal, client).await {
        // Revoked meanwhile (another tab): what was asked for.
        Ok(()) | Err(AuthError::NotFound(_)) => done(page, "grant_revoked"),
        Err(error) => page.refusal(error.into()),
    }
}

/// The linked providers, and the configured ones not linked yet.
fn linked_rows(page: &Page, linked: Vec<domain::user::OAuthAccount>) -> Value {
    let configured = page.state.federation.provider_names();
    let rows: Vec<Value> = linked
        .iter()
        .map(|account| {
            let id = account.provider.as_str();
            context! {
                id,
                name => super::federated::display_name(id),
                email => account.email.clone(),
                linked_at => human(account.created_at),
            }
        })
        .collect();
    let linkable: Vec<Value> = configured
        .into_iter()
        .filter(|name| !linked.iter().any(|a| a.provider.as_str() == *name))
        .map(|id| context! { id, name => super::federated::display_name(id) })
        .collect();
    context! { accounts => rows, linkable }
}

/// The answer to a refused account form: the page again, the refusal on
/// its form; a step-up prompt for a sign-in that is too old.
pub(crate) async fn refuse(
    page: Page,
    principal: Principal,
    form: &'static str,
    field: &str,
    error: AuthError,
) -> Response {
    refuse_typed(page, principal, (form, field), error, Default::default()).await
}

/// [`refuse`], showing the form again with what was `typed` into it.
async fn refuse_typed(
    page: Page,
    principal: Principal,
    (form, field): (&'static str, &str),
    error: AuthError,
    typed: std::collections::BTreeMap<&'static str, String>,
) -> Response {
    match error {
        AuthError::ReauthenticationRequired { .. } => {
            page.redirect(&with_return_to(paths::UI_CONFIRM, paths::UI_ACCOUNT))
        }
        AuthError::Validation(errors) => {
            let errors = FieldErrors::of(&page, &errors);
            let refused = Refused {
                form,
                errors,
                alert: None,
                typed,
            };
            account_page(
                page,
                principal,
                StatusCode::UNPROCESSABLE_ENTITY,
                Value::from(()),
                refused,
            )
            .await
        }
        AuthError::Repo(_) | AuthError::Internal(_) => page.refusal(error.into()),
        error => {
            let error = UiError::from(error);
            let message = page.t.text(error.message_key()).to_owned();
            let refused = Refused {
                form,
                errors: FieldErrors::one(field, &message),
                alert: Some(message),
                typed,
            };
            account_page(page, principal, error.status(), Value::from(()), refused).await
        }
    }
}

fn done(page: Page, notice: &str) -> Response {
    page.redirect(&with_notice(paths::UI_ACCOUNT, notice))
}

#[derive(Debug, Deserialize)]
pub(crate) struct ProfileForm {
    name: String,
    bio: String,
    location: String,
    website: String,
    avatar_url: String,
}

/// Name and profile, as one form: every invalid field is named at once,
/// and nothing is saved unless all are valid.
pub(crate) async fn change_profile(page: Page, Posted(form): Posted<ProfileForm>) -> Response {
    let (page, principal) = signed_in!(page, paths::UI_ACCOUNT);
    let typed = [
        ("name", &form.name),
        ("bio", &form.bio),
        ("location", &form.location),
        ("website", &form.website),
        ("avatar_url", &form.avatar_url),
    ]
    .into_iter()
    .map(|(field, value)| (field, value.clone()))
    .collect();
    let mut errors = domain::ValidationErrors::new();
    let name = errors.check(DisplayName::parse(&form.name));
    let update = domain::ProfileUpdate::parse(
        Some(form.bio),
        Some(form.avatar_url),
        Some(form.location),
        Some(form.website),
    );
    let update = match update {
        Ok(update) => Some(update),
        Err(invalid) => {
            for error in invalid.errors() {
                errors.push(error.clone());
            }
            None
        }
    };
    let (Some(name), Some(update)) = (name, update) else {
        let error = AuthError::Validation(errors);
        return refuse_typed(page, principal, ("profile", "name"), error, typed).await;
    };
    let saved = async {
        page.state.auth.update_name(&principal, &name).await?;
        page.state.auth.update_profile(&principal, &update).await
    };
    match saved.await {
        Ok(_) => done(page, "profile_saved"),
        Err(error) => refuse(page, principal, "profile", "name", error).await,
    }
}

pub(crate) async fn send_verification(page: Page, Posted(_): Posted<Empty>) -> Response {
    let (page, principal) = signed_in!(page, paths::UI_ACCOUNT);
    if page
        .state
        .limits
        .check(Limit::VerifySend, principal.user_id)
        .await
        .is_err()
    {
        return page.refusal(UiError::Throttled);
    }
    match page.state.account.send_verification(&principal).await {
        Ok(()) => done(page, "verify_sent"),
        Err(error) => refuse(page, principal, "verify", "email", error).await,
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct EmailForm {
    new_email: String,
    password: String,
}

pub(crate) async fn change_email(page: Page, Posted(form): Posted<EmailForm>) -> Response {
    let (page, principal) = signed_in!(page, paths::UI_ACCOUNT);
    if page
        .state
        .limits
        .check(Limit::EmailChange, principal.user_id)
        .await
        .is_err()
    {
        return page.refusal(UiError::Throttled);
    }
    let requested = page
        .state
        .account
        .request_email_change(&principal, &form.new_email, form.password, &page.client)
        .await;
    // The address is shown again when refused (the password never is).
    let typed = [("new_email", form.new_email)].into_iter().collect();
    match requested {
        Ok(()) => done(page, "email_change_sent"),
        Err(AuthError::InvalidCredentials) => {
            let error = AuthError::InvalidCredentials;
            refuse_typed(page, principal, ("email", "password"), error, typed).await
        }
        Err(error) => refuse_typed(page, principal, ("email", "new_email"), error, typed).await,
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct PasswordForm {
    current_password: String,
    new_password: String,
}

pub(crate) async fn change_password(page: Page, Posted(form): Posted<PasswordForm>) -> Response {
    let (page, principal) = signed_in!(page, paths::UI_ACCOUNT);
    let new = match Password::parse(form.new_password, "new_password") {
        Ok(new) => new,
        Err(error) => {
            return refuse(
                page,
                principal,
                "password",
                "new_password",
                AuthError::Validation(error.into()),
            )
            .await;
        }
    };
    let changed = page
        .state
        .auth
        .change_password(&principal, form.current_password, new, &page.client)
        .await;
    match changed {
        Ok(()) => done(page, "password_changed"),
        Err(AuthError::InvalidCredentials) => {
            refuse(
                page,
                principal,
                "password",
                "current_password",
                AuthError::InvalidCredentials,
            )
            .await
        }
        Err(error) => refuse(page, principal, "password", "new_password", error).await,
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct SessionForm {
    session_id: String,
}

pub(crate) async fn revoke_session(page: Page, Posted(form): Posted<SessionForm>) -> Response {
    let (mut page, principal) = signed_in!(page, paths::UI_ACCOUNT);
    let Ok(id) = form.session_id.parse::<SessionId>() else {
        return page.refusal(UiError::BadForm);
    };
    match page.state.auth.revoke_session(&principal, id).await {
        Ok(()) if id == principal.session_id => {
            page.end_browser_session();
            page.redirect(&with_notice(paths::UI_SIGN_IN, "signed_out"))
        }
        Ok(()) => done(page, "sessions_revoked"),
        Err(error) => refuse(page, principal, "sessions", "session_id", error).await,
    }
}

/// Signs out every session but this browser's.
pub(crate) async fn revoke_other_sessions(page: Page, Posted(_): Posted<Empty>) -> Response {
    let (page, principal) = signed_in!(page, paths::UI_ACCOUNT);
    let sessions = match page.state.auth.list_sessions(&principal).await {
        Ok(sessions) => sessions,
        Err(error) => return page.refusal(error.into()),
    };
    for session in sessions.iter().filter(|s| s.id != principal.session_id) {
        match page.state.auth.revoke_session(&principal, session.id).await {
            // Ended meanwhile: what was asked for.
            Ok(()) | Err(AuthError::NotFound(_)) => {}
            Err(error) => return page.refusal(error.into()),
        }
    }
    done(page, "sessions_revoked")
}

#[derive(Debug, Deserialize)]
pub(crate) struct DeleteForm {
    password: String,
}

pub(crate) async fn delete(page: Page, Posted(form): Posted<DeleteForm>) -> Response {
    let (mut page, principal) = signed_in!(page, paths::UI_ACCOUNT);
    let deleted = page
        .state
        .account
        .delete_account(&principal, form.password, &page.client)
        .await;
    match deleted {
        Ok(()) => {
            page.end_browser_session();
            page.redirect(&with_notice(paths::UI_SIGN_IN, "account_deleted"))
        }
        Err(error) => refuse(page, principal, "delete", "password", error).await,
    }
}
