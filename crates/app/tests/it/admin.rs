//! The admin API: guarded route by route (the list comes from the OpenAPI
//! document the router is built from), and every change seen at once by a
//! second instance.

use api_types::{AdminUserResponse, RolesResponse, UserListResponse, paths};
use std::collections::HashSet;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{PASSWORD, TestApp, Tokens, assert_problem, spawn_app, spawn_peer};
use crate::roles::grant;

/// A user with the `admin` role, made as an operator makes the first one.
pub(crate) async fn admin_of(app: &TestApp) -> Tokens {
    let email = format!("admin-{}@example.com", Uuid::new_v4().simple());
    let tokens = app.register_as(&email).await;
    let output = grant(app, &email);
    assert!(output.status.success(), "{output:?}");
    tokens
}

pub(crate) async fn put_auth(
    app: &TestApp,
    path: &str,
    token: &str,
    body: &Value,
) -> reqwest::Response {
    app.client
        .put(app.url(path))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("request")
}

/// Polls `check` until it holds (invalidation crosses instances through
/// Redis pub/sub: milliseconds, not a TTL).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(2);
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not seen within 2 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn verify_status(app: &TestApp, access: &str) -> StatusCode {
    app.get_auth(paths::VERIFY, access).await.status()
}

#[tokio::test]
async fn every_admin_route_refuses_anyone_but_an_admin() {
    let app = spawn_app().await;
    let user = app.register().await;
    let openapi = api_http::openapi();
    let mut checked = 0;
    for (path, item) in &openapi.paths.paths {
        if !path.starts_with(paths::ADMIN) {
            continue;
        }
        let url = path.replace("{id}", &Uuid::now_v7().to_string());
        let methods = [
            (reqwest::Method::GET, item.get.is_some()),
            (reqwest::Method::POST, item.post.is_some()),
            (reqwest::Method::PUT, item.put.is_some()),
            (reqwest::Method::PATCH, item.patch.is_some()),
            (reqwest::Method::DELETE, item.delete.is_some()),
        ];
        for (method, present) in methods {
            if !present {
                continue;
            }
            let request = || {
                app.client
                    .request(method.clone(), app.url(&url))
                    .json(&json!({"roles": ["admin"], "name": "x"}))
            };
            let anonymous = request().send().await.unwrap();
            assert_eq!(
                anonymous.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {path}"
            );
            let refused = request().bearer_auth(&user.access).send().await.unwrap();
            assert_problem(refused, StatusCode::FORBIDDEN, "forbidden").await;
            checked += 1;
        }
    }
    // Every route of DESIGN.md's table is in the document (and so was checked).
    assert!(checked >= 10, "only {checked} admin operations found");
    // Nothing was changed by the refused calls.
    let roles: Vec<String> =
        sqlx::query_scalar("SELECT role FROM user_roles WHERE user_id = $1::uuid")
            .bind(&user.user_id)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert!(roles.is_empty());
}

#[tokio::test]
async fn disable_enable_revoke_roles_and_delete_take_effect_on_another_instance() {
    let a = spawn_app().await;
    let b = spawn_peer(&a, &[]).await;
    let admin = admin_of(&a).await;
    let email = format!("target-{}@example.com", Uuid::new_v4().simple());
    let user = a.register_as(&email).await;
    let path = paths::fill(paths::ADMIN_USER, &[&user.user_id.to_string()]);
    // B has the user's session and user cached.
    assert_eq!(verify_status(&b, &user.access).await, StatusCode::OK);

    let disabled = a
        .post_auth(&format!("{path}/disable"), &admin.access, None)
        .await;
    assert_eq!(disabled.status(), StatusCode::NO_CONTENT);
    eventually("the disabled user's token refused on B", || async {
        verify_status(&b, &user.access).await == StatusCode::UNAUTHORIZED
    })
    .await;
    assert_eq!(b.me(&user.access).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        b.refresh(&user.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_problem(
        b.login(&email, PASSWORD).await,
        StatusCode::FORBIDDEN,
        "account_disabled",
    )
    .await;
    // A wrong password says nothing about the account's state.
    assert_problem(
        b.login(&email, "wrong horse battery staple").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    let detail: AdminUserResponse = b.get_auth(&path, &admin.access).await.json().await.unwrap();
    assert!(detail.disabled);
    assert_eq!(detail.sessions, []);
    assert_eq!(detail.user.email, email);
    assert!(!detail.mfa.totp);

    let enabled = b
        .post_auth(&format!("{path}/enable"), &admin.access, None)
        .await;
    assert_eq!(enabled.status(), StatusCode::NO_CONTENT);
    let login = a.login(&email, PASSWORD).await;
    assert_eq!(login.status(), StatusCode::OK);
    let again = Tokens::from_body(login.json().await.unwrap());
    assert_eq!(verify_status(&b, &again.access).await, StatusCode::OK);
    let detail: AdminUserResponse = a.get_auth(&path, &admin.access).await.json().await.unwrap();
    assert!(!detail.disabled);
    assert_eq!(detail.sessions.len(), 1);

    let roles = put_auth(
        &a,
        &format!("{path}/roles"),
        &admin.access,
        &json!({"roles": ["support", "billing:read"]}),
    )
    .await;
    assert_eq!(roles.status(), StatusCode::OK);
    assert_eq!(
        roles.json::<RolesResponse>().await.unwrap().roles,
        ["billing:read", "support"]
    );
    eventually("the new roles shown by B", || async {
        b.get_auth(paths::VERIFY, &again.access).await.headers()["x-auth-roles"]
            == "billing:read,support"
    })
    .await;
    let bad = put_auth(
        &a,
        &format!("{path}/roles"),
        &admin.access,
        &json!({"roles": ["Not A Role"]}),
    )
    .await;
    assert_problem(bad, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;

    let revoked = a
        .client
        .delete(a.url(&format!("{path}/sessions")))
        .bearer_auth(&admin.access)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    eventually("the revoked session refused on B", || async {
        verify_status(&b, &again.access).await == StatusCode::UNAUTHORIZED
    })
    .await;

    let fresh = Tokens::from_body(a.login(&email, PASSWORD).await.json().await.unwrap());
    assert_eq!(verify_status(&b, &fresh.access).await, StatusCode::OK);
    let deleted = a
        .client
        .delete(a.url(&path))
        .bearer_auth(&admin.access)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    eventually("the deleted user's token refused on B", || async {
        verify_status(&b, &fresh.access).await == StatusCode::UNAUTHORIZED
    })
    .await;
    assert_problem(
        b.get_auth(&path, &admin.access).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_problem(
        b.login(&email, PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;

    // Every change is in the audit trail with the admin who made it.
    let actors: Vec<(String, Option<Uuid>)> = sqlx::query_as(
        "SELECT event, actor_id FROM audit_events WHERE user_id = $1::uuid AND actor_id IS NOT NULL ORDER BY id",
    )
    .bind(&user.user_id)
    .fetch_all(&a.pool)
    .await
    .unwrap();
    let events: Vec<&str> = actors.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(
        events,
        [
            "user_disabled",
            "user_enabled",
            "roles_set",
            "sessions_revoked",
            "user_deleted"
        ]
    );
    let admin_id: Uuid = admin.user_id.parse().unwrap();
    assert!(actors.iter().all(|(_, actor)| *actor == Some(admin_id)));
}

#[tokio::test]
async fn an_admin_cannot_lock_themself_out() {
    let app = spawn_app().await;
    let admin = admin_of(&app).await;
    let path = paths::fill(paths::ADMIN_USER, &[&admin.user_id.to_string()]);
    let disable = app
        .post_auth(&format!("{path}/disable"), &admin.access, None)
        .await;
    assert_problem(disable, StatusCode::CONFLICT, "self_administration").await;
    let delete = app
        .client
        .delete(app.url(&path))
        .bearer_auth(&admin.access)
        .send()
        .await
        .unwrap();
    assert_problem(delete, StatusCode::CONFLICT, "self_administration").await;
    let demote = put_auth(
        &app,
        &format!("{path}/roles"),
        &admin.access,
        &json!({"roles": []}),
    )
    .await;
    assert_problem(demote, StatusCode::CONFLICT, "self_administration").await;
    // Unknown ids are 404, malformed ones too.
    for id in [Uuid::now_v7().to_string(), "not-a-uuid".to_owned()] {
        let missing = app
            .post_auth(
                &format!(
                    "{}/disable",
                    paths::fill(paths::ADMIN_USER, &[&id.to_string()])
                ),
                &admin.access,
                None,
            )
            .await;
        assert_problem(missing, StatusCode::NOT_FOUND, "not_found").await;
    }
    // A demoted admin loses the API at once, whatever their token says.
    let other = admin_of(&app).await;
    let demoted = put_auth(
        &app,
        &format!(
            "{}/roles",
            paths::fill(paths::ADMIN_USER, &[&other.user_id.to_string()])
        ),
        &admin.access,
        &json!({"roles": []}),
    )
    .await;
    assert_eq!(demoted.status(), StatusCode::OK);
    let refused = app.get_auth(paths::ADMIN_USERS, &other.access).await;
    assert_problem(refused, StatusCode::FORBIDDEN, "forbidden").await;
}

async fn page(app: &TestApp, token: &str, query: &str) -> UserListResponse {
    let response = app
        .get_auth(&format!("{}?{query}", paths::ADMIN_USERS), token)
        .await;
    assert_eq!(response.status(), StatusCode::OK, "{query}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn pages_neither_repeat_nor_skip_users_while_others_sign_up() {
    let app = spawn_app().await;
    let admin = admin_of(&app).await;
    let prefix = format!("page-{}", Uuid::new_v4().simple());
    let insert = |pool: sqlx::PgPool, n: usize, tag: &'static str| {
        let prefix = prefix.clone();
        async move {
            for i in 0..n {
                sqlx::query("INSERT INTO users (id, email, name) VALUES ($1, $2, 'Paged')")
                    .bind(Uuid::now_v7())
                    .bind(format!("{prefix}-{tag}{i}@example.com"))
                    .execute(&pool)
                    .await
                    .unwrap();
            }
        }
    };
    insert(app.pool.clone(), 45, "a").await;
    let before: HashSet<String> =
        sqlx::query_scalar("SELECT id::text FROM users WHERE email LIKE $1")
            .bind(format!("{prefix}%"))
            .fetch_all(&app.pool)
            .await
            .unwrap()
            .into_iter()
            .collect();
    // Others sign up while the admin pages through.
    let writer = tokio::spawn(insert(app.pool.clone(), 40, "b"));
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(cursor) => format!("query={}&limit=7&cursor={cursor}", prefix.to_uppercase()),
            None => format!("query={}&limit=7", prefix.to_uppercase()),
        };
        let body = page(&app, &admin.access, &query).await;
        assert!(body.users.len() <= 7);
        seen.extend(body.users.iter().map(|u| u.id.to_string()));
        match body.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
        tokio::task::yield_now().await;
    }
    writer.await.unwrap();
    let unique: HashSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "a user was listed twice");
    assert!(
        before.is_subset(&unique),
        "a user who existed before was skipped"
    );
    // Newest first.
    let ids: Vec<Uuid> = seen.iter().map(|s| s.parse().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]));

    // The created range and bad parameters.
    let future = page(
        &app,
        &admin.access,
        &format!("query={prefix}&created_after=2999-01-01T00:00:00Z"),
    )
    .await;
    assert_eq!(future.users, []);
    let past = page(
        &app,
        &admin.access,
        &format!("query={prefix}&created_before=2000-01-01T00:00:00Z"),
    )
    .await;
    assert_eq!(past.users, []);
    for bad in [
        "limit=0",
        "limit=101",
        "cursor=nope",
        "created_after=yesterday",
    ] {
        let response = app
            .get_auth(&format!("{}?{bad}", paths::ADMIN_USERS), &admin.access)
            .await;
        assert_problem(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
    }
    // LIKE's wildcards are taken literally.
    let wild = page(&app, &admin.access, "query=%25").await;
    assert_eq!(wild.users, []);
}

/// An admin removes every second factor of a user: the owner, stuck behind
/// a factor someone else added, signs in with the password alone again.
#[tokio::test]
async fn an_admin_removes_a_users_second_factors() {
    let app = spawn_app().await;
    let admin = admin_of(&app).await;
    let email = format!("stuck-{}@example.com", Uuid::new_v4().simple());
    let user = app.register_verified(&email).await;
    crate::mfa::enable_totp(&app, &user.access).await;
    crate::mfa::mfa_token(&app, &email).await;
    let path = format!(
        "{}/mfa",
        paths::fill(paths::ADMIN_USER, &[&user.user_id.to_string()])
    );
    let by_user = app.delete_auth(&path, &user.access, &json!({})).await;
    assert_problem(by_user, StatusCode::FORBIDDEN, "forbidden").await;
    let removed = app.delete_auth(&path, &admin.access, &json!({})).await;
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.login(&email, PASSWORD).await.status(), StatusCode::OK);
    let detail: AdminUserResponse = app
        .get_auth(
            &paths::fill(paths::ADMIN_USER, &[&user.user_id.to_string()]),
            &admin.access,
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(!detail.mfa.totp, "{detail:?}");
    let unknown = paths::fill(paths::ADMIN_USER_MFA, &[&Uuid::new_v4().to_string()]);
    let missing = app.delete_auth(&unknown, &admin.access, &json!({})).await;
    assert_problem(missing, StatusCode::NOT_FOUND, "not_found").await;
}

/// A NUL (or any control character) in the search is a 422 that names the
/// field, not a 500 from PostgreSQL refusing it.
#[tokio::test]
async fn a_control_character_in_the_user_search_is_a_422() {
    let app = spawn_app().await;
    let admin = admin_of(&app).await;
    for query in ["%00", "ada%00", "%1B[31m"] {
        let response = app
            .get_auth(
                &format!("{}?query={query}", paths::ADMIN_USERS),
                &admin.access,
            )
            .await;
        let problem = assert_problem(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert_eq!(
            problem.errors.as_ref().unwrap()[0].field,
            "query",
            "{problem:?}"
        );
    }
}
