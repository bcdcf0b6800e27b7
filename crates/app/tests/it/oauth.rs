//! Sign-in with external providers, against providers the tests run themselves
//! on loopback ports: an OpenID Connect issuer (discovery, JWKS, authorize,
//! token, userinfo, real ES256 ID tokens) and a GitHub-shaped OAuth 2.0 server
//! (user and emails API). The browser is played by hand: the `cz_oauth` cookie
//! is read from `Set-Cookie` and sent back, redirects are followed one by one.

use api_types::{AuthorizeUrl, OAuthAccountDto, paths};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::pkcs8::EncodePrivateKey as _;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{PASSWORD, TestApp, Tokens, assert_problem, spawn_app_with};

const CLIENT_ID: &str = "client-1";
const CLIENT_SECRET: &str = "secret-1";
const PUBLIC: &str = "https://app.test";

/// Who "signs in" at the provider next, and how the provider misbehaves.
#[derive(Clone, Default)]
struct Script {
    subject: String,
    email: Option<String>,
    email_verified: bool,
    name: Option<String>,
    /// `error=access_denied` instead of a code.
    deny: bool,
    /// The `iss` sent back to the callback.
    wrong_iss: bool,
    aud: Option<String>,
    iss_claim: Option<String>,
    expired: bool,
    wrong_nonce: bool,
    bad_signature: bool,
    alg_none: bool,
    /// The token endpoint answers this slowly.
    delay: Option<Duration>,
    token_status: Option<u16>,
}

struct Grant {
    challenge: String,
    nonce: Option<String>,
    redirect_uri: String,
    script: Script,
}

struct Provider {
    base: String,
    key: EncodingKey,
    jwk: Value,
    script: Mutex<Script>,
    grants: Mutex<HashMap<String, Grant>>,
}

type Shared = Arc<Provider>;

fn es256_key() -> (EncodingKey, Value) {
    let secret = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let pem = secret
        .to_pkcs8_pem(p256::pkcs8::LineEnding::LF)
        .unwrap()
        .to_string();
    let point = secret.verifying_key().to_encoded_point(false);
    let jwk = json!({
        "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": "test-key",
        "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()),
        "y": URL_SAFE_NO_PAD.encode(point.y().unwrap()),
    });
    (EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(), jwk)
}

impl Provider {
    async fn start(github: bool) -> Shared {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (key, jwk) = es256_key();
        let provider = Arc::new(Provider {
            base,
            key,
            jwk,
            script: Mutex::new(Script::default()),
            grants: Mutex::new(HashMap::new()),
        });
        let router = if github {
            axum::Router::new()
                .route("/login/oauth/authorize", get(authorize))
                .route("/login/oauth/access_token", post(token))
                .route("/user", get(github_user))
                .route("/user/emails", get(github_emails))
        } else {
            axum::Router::new()
                .route("/.well-known/openid-configuration", get(discovery))
                .route("/jwks", get(jwks))
                .route("/authorize", get(authorize))
                .route("/token", post(token))
        }
        .with_state(Arc::clone(&provider));
        tokio::spawn(async move { axum::serve(listener, router).await });
        provider
    }

    fn next(&self, script: Script) {
        *self.script.lock().unwrap() = script;
    }
}

async fn discovery(State(p): State<Shared>) -> axum::Json<Value> {
    axum::Json(json!({
        "issuer": p.base,
        "authorization_endpoint": format!("{}/authorize", p.base),
        "token_endpoint": format!("{}/token", p.base),
        "jwks_uri": format!("{}/jwks", p.base),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "authorization_response_iss_parameter_supported": true,
    }))
}

async fn jwks(State(p): State<Shared>) -> axum::Json<Value> {
    axum::Json(json!({ "keys": [p.jwk] }))
}

async fn authorize(State(p): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let script = p.script.lock().unwrap().clone();
    let redirect_uri = q["redirect_uri"].clone();
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["code_challenge_method"], "S256");
    let state = q["state"].clone();
    let iss = if script.wrong_iss {
        "https://evil.example".to_owned()
    } else {
        p.base.clone()
    };
    if script.deny {
        return Redirect::to(&format!(
            "{redirect_uri}?error=access_denied&error_description=user+said+no&state={state}&iss={iss}"
        ))
        .into_response();
    }
    let code = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>());
    p.grants.lock().unwrap().insert(
        code.clone(),
        Grant {
            challenge: q["code_challenge"].clone(),
            nonce: q.get("nonce").cloned(),
            redirect_uri: redirect_uri.clone(),
            script,
        },
    );
    Redirect::to(&format!(
        "{redirect_uri}?code={code}&state={state}&iss={iss}"
    ))
    .into_response()
}

async fn token(
    State(p): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let Some(grant) = p.grants.lock().unwrap().remove(&form["code"]) else {
        return (
            AxumStatus::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_grant"})),
        )
            .into_response();
    };
    let script = grant.script;
    if let Some(delay) = script.delay {
        tokio::time::sleep(delay).await;
    }
    if let Some(status) = script.token_status {
        return AxumStatus::from_u16(status).unwrap().into_response();
    }
    // Client authentication (HTTP Basic) and PKCE, as a real server checks them.
    let basic = headers["authorization"]
        .to_str()
        .unwrap()
        .strip_prefix("Basic ")
        .unwrap();
    let basic = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(basic)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(basic, format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    let verifier = &form["code_verifier"];
    if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != grant.challenge
        || form["redirect_uri"] != grant.redirect_uri
    {
        return (
            AxumStatus::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_grant"})),
        )
            .into_response();
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = json!({
        "iss": script.iss_claim.clone().unwrap_or_else(|| p.base.clone()),
        "aud": script.aud.clone().unwrap_or_else(|| CLIENT_ID.to_owned()),
        "sub": script.subject,
        "iat": now,
        "exp": if script.expired { now - 3600 } else { now + 300 },
        "nonce": if script.wrong_nonce { Some("another".to_owned()) } else { grant.nonce },
        "email": script.email,
        "email_verified": script.email_verified,
        "name": script.name,
    });
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("test-key".into());
    let mut id_token = jsonwebtoken::encode(&header, &claims, &p.key).unwrap();
    if script.bad_signature {
        // The same header and claims, signed by a key the JWKS does not hold.
        id_token = jsonwebtoken::encode(&header, &claims, &es256_key().0).unwrap();
    }
    if script.alg_none {
        let head = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(claims.to_string());
        id_token = format!("{head}.{body}.");
    }
    axum::Json(json!({
        "access_token": "provider-access-token",
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token,
    }))
    .into_response()
}

async fn github_user(State(p): State<Shared>, headers: HeaderMap) -> Response {
    assert_eq!(headers["authorization"], "Bearer provider-access-token");
    let s = p.script.lock().unwrap().clone();
    axum::Json(json!({"id": s.subject.parse::<u64>().unwrap(), "login": "octo", "name": s.name}))
        .into_response()
}

async fn github_emails(State(p): State<Shared>) -> axum::Json<Value> {
    let s = p.script.lock().unwrap().clone();
    axum::Json(json!([
        {"email": "secondary@example.com", "primary": false, "verified": true},
        {"email": s.email, "primary": true, "verified": s.email_verified},
    ]))
}

fn person(subject: &str, email: &str) -> Script {
    Script {
        subject: subject.into(),
        email: Some(email.into()),
        email_verified: true,
        name: Some("Ext Ernal".into()),
        ..Script::default()
    }
}

async fn app_with(oidc: &Provider, github: Option<&Provider>, extra: &[(&str, &str)]) -> TestApp {
    let mut env = vec![
        ("OIDC_PROVIDERS", "acme".to_owned()),
        ("OIDC_ACME_ISSUER", oidc.base.clone()),
        ("OIDC_ACME_CLIENT_ID", CLIENT_ID.to_owned()),
        ("OIDC_ACME_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
        ("PUBLIC_BASE_URL", PUBLIC.to_owned()),
        ("OAUTH_PROVIDER_TIMEOUT", "1".to_owned()),
        (
            "OAUTH_REDIRECT_ALLOWLIST",
            "https://spa.example.com".to_owned(),
        ),
    ];
    if let Some(github) = github {
        env.push(("OAUTH_GITHUB_CLIENT_ID", CLIENT_ID.to_owned()));
        env.push(("OAUTH_GITHUB_CLIENT_SECRET", CLIENT_SECRET.to_owned()));
        env.push(("OAUTH_GITHUB_URL", github.base.clone()));
        env.push(("OAUTH_GITHUB_API_URL", github.base.clone()));
    }
    let mut vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    vars.extend_from_slice(extra);
    spawn_app_with(&vars).await
}

/// The browser's side of a login.
struct Flow {
    cookie: String,
    callback: String,
}

/// A `{provider}` route of `provider`.
fn of_provider(path: &str, provider: &str) -> String {
    paths::fill(path, &[provider])
}

fn binding_cookie(response: &reqwest::Response) -> String {
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    let path = format!("Path={}", paths::OAUTH);
    for attribute in ["HttpOnly", "Secure", "SameSite=Lax", &path] {
        assert!(
            set_cookie.contains(attribute),
            "{set_cookie} lacks {attribute}"
        );
    }
    set_cookie.split(';').next().unwrap().to_owned()
}

/// Follows the provider's redirect back to the callback.
async fn through_provider(app: &TestApp, authorize_url: &str) -> String {
    let at_provider = app.client.get(authorize_url).send().await.unwrap();
    assert_eq!(at_provider.status(), StatusCode::SEE_OTHER);
    let location = at_provider.headers()["location"].to_str().unwrap();
    location.replace(PUBLIC, &app.address)
}

async fn start(app: &TestApp, provider: &str, query: &str) -> Flow {
    let response = app
        .client
        .get(app.url(&format!(
            "{}{query}",
            of_provider(paths::OAUTH_AUTHORIZE, provider)
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::FOUND,
        "{:?}",
        response.text().await
    );
    let cookie = binding_cookie(&response);
    let authorize_url = response.headers()["location"].to_str().unwrap().to_owned();
    for param in [
        "state=",
        "code_challenge=",
        "code_challenge_method=S256",
        "redirect_uri=",
    ] {
        assert!(
            authorize_url.contains(param),
            "{authorize_url} lacks {param}"
        );
    }
    Flow {
        cookie,
        callback: through_provider(app, &authorize_url).await,
    }
}

async fn finish(app: &TestApp, flow: &Flow) -> reqwest::Response {
    app.client
        .get(&flow.callback)
        .header("cookie", &flow.cookie)
        .send()
        .await
        .unwrap()
}

async fn sign_in(app: &TestApp, provider: &str) -> reqwest::Response {
    let flow = start(app, provider, "").await;
    finish(app, &flow).await
}

#[tokio::test]
async fn oidc_first_login_creates_the_user_and_a_returning_login_finds_it() {
    let oidc = Provider::start(false).await;
    let app = app_with(&oidc, None, &[]).await;
    oidc.next(person("alice-1", "alice@example.com"));
    let response = sign_in(&app, "acme").await;
    assert_eq!(response.status(), StatusCode::OK);
    let first = Tokens::from_body(response.json().await.unwrap());
    assert_eq!(first.response.token_type, "Bearer");
    assert_eq!(first.response.user.email, "alice@example.com");
    assert!(first.response.user.email_verified, "the provider said so");
    assert_eq!(app.me(&first.access).await.status(), StatusCode::OK);

    let response = sign_in(&app, "acme").await;
    assert_eq!(response.status(), StatusCode::OK);
    let again = Tokens::from_body(response.json().await.unwrap());
    assert_eq!(again.user_id, first.user_id, "keyed by (provider, subject)");
    let accounts: Vec<OAuthAccountDto> = app
        .get_auth(paths::OAUTH_ACCOUNTS, &again.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].provider, "acme");
    assert_eq!(accounts[0].subject, "alice-1");
    // The only way this user signs in: unlinking it is refused.
    let unlink = app
        .client
        .delete(app.url(&of_provider(paths::OAUTH_PROVIDER, "acme")))
        .bearer_auth(&again.access)
        .send()
        .await
        .unwrap();
    assert_problem(unlink, StatusCode::CONFLICT, "last_sign_in_method").await;
}

#[tokio::test]
async fn an_existing_local_account_is_not_taken_over() {
    let oidc = Provider::start(false).await;
    let app = app_with(&oidc, None, &[("OAUTH_LINK_VERIFIED_EMAIL", "true")]).await;
    app.register_as("bob@example.com").await;
    oidc.next(person("bob-ext", "bob@example.com"));
    // Even with OAUTH_LINK_VERIFIED_EMAIL: the local address is not verified.
    assert_problem(
        sign_in(&app, "acme").await,
        StatusCode::CONFLICT,
        "account_exists",
    )
    .await;
}

#[tokio::test]
async fn a_signed_in_user_links_and_unlinks_a_provider() {
    let oidc = Provider::start(false).await;
    let app = app_with(&oidc, None, &[]).await;
    // A link is a way in: not to an account whose address nobody verified.
    let squatter = app.register_as("carol@example.com").await;
    let refused = app
        .post_auth(
            &of_provider(paths::OAUTH_LINK, "acme"),
            &squatter.access,
            None,
        )
        .await;
    assert_problem(refused, StatusCode::FORBIDDEN, "email_not_verified").await;
    let token = app.mailed_link("carol@example.com", "verify-email").await;
    let local = app.verify_and_sign_in("carol@example.com", &token).await;
    let response = app
        .post_auth(&of_provider(paths::OAUTH_LINK, "acme"), &local.access, None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = binding_cookie(&response);
    let body: AuthorizeUrl = response.json().await.unwrap();
    oidc.next(person("carol-ext", "carol.work@example.com"));
    let flow = Flow {
        cookie,
        callback: through_provider(&app, &body.authorize_url).await,
    };
    let linked = finish(&app, &flow).await;
    assert_eq!(linked.status(), StatusCode::OK);
    let linked: OAuthAccountDto = linked.json().await.unwrap();
    assert_eq!(linked.provider, "acme");
    // Signing in with the provider now reaches the local account.
    let response = sign_in(&app, "acme").await;
    let via_provider = Tokens::from_body(response.json().await.unwrap());
    assert_eq!(via_provider.user_id, local.user_id);
    // Unlink: allowed, the password remains.
    let unlink = app
        .client
        .delete(app.url(&of_provider(paths::OAUTH_PROVIDER, "acme")))
        .bearer_auth(&local.access)
        .send()
        .await
        .unwrap();
    assert_eq!(unlink.status(), StatusCode::NO_CONTENT);
    let accounts: Value = app
        .get_auth(paths::OAUTH_ACCOUNTS, &local.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(accounts, json!([]));
    assert_eq!(
        app.login("carol@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn bad_replayed_and_foreign_states_are_rejected() {
    let oidc = Provider::start(false).await;
    let app = app_with(&oidc, None, &[]).await;
    oidc.next(person("dave-1", "dave@example.com"));
    let flow = start(&app, "acme", "").await;
    // No cookie: a callback opened in another browser.
    let no_cookie = app.client.get(&flow.callback).send().await.unwrap();
    assert_problem(no_cookie, StatusCode::BAD_REQUEST, "invalid_oauth_state").await;
    // The state was used up by that attempt: replays fail too.
    assert_problem(
        finish(&app, &flow).await,
        StatusCode::BAD_REQUEST,
        "invalid_oauth_state",
    )
    .await;

    // A foreign state: this browser's cookie with another login's state.
    let mine = start(&app, "acme", "").await;
    let theirs = start(&app, "acme", "").await;
    let foreign = Flow {
        cookie: mine.cookie.clone(),
        callback: theirs.callback.clone(),
    };
    assert_problem(
        finish(&app, &foreign).await,
        StatusCode::BAD_REQUEST,
        "invalid_oauth_state",
    )
    .await;
    // The genuine one works once, then is replayed.
    assert_eq!(finish(&app, &mine).await.status(), StatusCode::OK);
    assert_problem(
        finish(&app, &mine).await,
        StatusCode::BAD_REQUEST,
        "invalid_oauth_state",
    )
    .await;
    // Missing and made-up states.
    for query in ["?code=x", "?code=x&state=made-up"] {
        let response = app
            .client
            .get(app.url(&format!(
                "{}{query}",
                of_provider(paths::OAUTH_CALLBACK, "acme")
            )))
            .header("cookie", &mine.cookie)
            .send()
            .await
            .unwrap();
        assert_problem(response, StatusCode::BAD_REQUEST, "invalid_oauth_state").await;
    }
    let unknown = app
        .client
        .get(app.url(&of_provider(paths::OAUTH_AUTHORIZE, "nope")))
        .send()
        .await
        .unwrap();
    assert_problem(unknown, StatusCode::NOT_FOUND, "unknown_provider").await;
}

#[tokio::test]
async fn provider_errors_wrong_issuers_and_bad_id_tokens_are_rejected() {
    let oidc = Provider::start(false).await;
    let app = app_with(&oidc, None, &[]).await;
    let e = || person("e", "e@example.com");
    let cases: Vec<(Script, &str, &str)> = vec![
        (
            Script { deny: true, ..e() },
            "oauth_denied",
            "access_denied",
        ),
        (
            Script {
                wrong_iss: true,
                ..e()
            },
            "oauth_issuer_mismatch",
            "issuer",
        ),
        (
            Script {
                aud: Some("someone-else".into()),
                ..e()
            },
            "oauth_rejected",
            "another client",
        ),
        (
            Script {
                iss_claim: Some("https://evil.example".into()),
                ..e()
            },
            "oauth_rejected",
            "wrong issuer",
        ),
        (
            Script {
                bad_signature: true,
                ..e()
            },
            "oauth_rejected",
            "bad signature",
        ),
        (
            Script {
                expired: true,
                ..e()
            },
            "oauth_rejected",
            "expired",
        ),
        (
            Script {
                wrong_nonce: true,
                ..e()
            },
            "oauth_rejected",
            "nonce",
        ),
        (
            Script {
                alg_none: true,
                ..e()
            },
            "oauth_rejected",
            "malformed",
        ),
        (
            Script {
                token_status: Some(500),
                ..e()
            },
            "provider_unavailable",
            "try again",
        ),
        (
            Script {
                delay: Some(Duration::from_secs(3)),
                ..e()
            },
            "provider_unavailable",
            "try again",
        ),
    ];
    for (script, code, detail) in cases {
        oidc.next(script);
        let response = sign_in(&app, "acme").await;
        let status = if code == "provider_unavailable" {
            StatusCode::BAD_GATEWAY
        } else {
            StatusCode::BAD_REQUEST
        };
        let body = assert_problem(response, status, code).await;
        assert!(body.detail.as_str().contains(detail), "{code}: {body:?}");
        assert!(!format!("{body:?}").contains("provider-access-token"));
    }
    // Nobody was created by any of them.
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(users, 0);
}

#[tokio::test]
async fn an_unreachable_provider_is_a_502_not_a_hang() {
    // A port where nothing listens stands in for the provider being down.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = spawn_app_with(&[
        ("OIDC_PROVIDERS", "down"),
        ("OIDC_DOWN_ISSUER", &format!("http://127.0.0.1:{dead}")),
        ("OIDC_DOWN_CLIENT_ID", CLIENT_ID),
        ("OIDC_DOWN_CLIENT_SECRET", CLIENT_SECRET),
        ("OAUTH_PROVIDER_TIMEOUT", "1"),
    ])
    .await;
    let response = app
        .client
        .get(app.url(&of_provider(paths::OAUTH_AUTHORIZE, "down")))
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::BAD_GATEWAY, "provider_unavailable").await;
}

#[tokio::test]
async fn github_logins_use_the_user_and_emails_api_and_redirect_with_a_fragment() {
    let oidc = Provider::start(false).await;
    let github = Provider::start(true).await;
    let app = app_with(&oidc, Some(&github), &[]).await;
    // An address GitHub has not verified neither creates nor claims an
    // account: anyone could pre-register someone else's address that way.
    github.next(Script {
        email_verified: false,
        ..person("4242", "octo@example.com")
    });
    assert_problem(
        sign_in(&app, "github").await,
        StatusCode::FORBIDDEN,
        "oauth_email_unverified",
    )
    .await;
    let created: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(created, 0);
    github.next(person("4242", "octo@example.com"));
    let response = sign_in(&app, "github").await;
    assert_eq!(response.status(), StatusCode::OK);
    let tokens = Tokens::from_body(response.json().await.unwrap());
    assert_eq!(
        tokens.response.user.email, "octo@example.com",
        "the primary address"
    );
    assert!(tokens.response.user.email_verified, "GitHub verified it");
    assert_eq!(tokens.response.user.name, "Ext Ernal");
    // Returning: the same numeric id finds the same user, whatever the email now.
    github.next(Script {
        email_verified: true,
        ..person("4242", "octo.new@example.com")
    });
    let again = Tokens::from_body(sign_in(&app, "github").await.json().await.unwrap());
    assert_eq!(again.user_id, tokens.user_id);
    // Another GitHub user whose primary email is a local account's: not taken over.
    app.register_as("local@example.com").await;
    github.next(person("777", "local@example.com"));
    assert_problem(
        sign_in(&app, "github").await,
        StatusCode::CONFLICT,
        "account_exists",
    )
    .await;

    // redirect_to from the allow-list: a one-time code travels in the
    // fragment — never a token (browser history, referrers, extensions) —
    // and opens the session when exchanged, once, within 60 s.
    github.next(person("4242", "octo@example.com"));
    let flow = start(
        &app,
        "github",
        "?redirect_to=https://spa.example.com/signed-in",
    )
    .await;
    let response = finish(&app, &flow).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let code = location
        .strip_prefix("https://spa.example.com/signed-in#code=")
        .unwrap_or_else(|| panic!("{location}"));
    assert!(!location.contains("token"), "{location}");
    let exchange = |code: String| {
        let app = &app;
        async move {
            app.post(paths::OAUTH_EXCHANGE, &json!({"code": code}))
                .await
        }
    };
    let exchanged = exchange(code.to_owned()).await;
    assert_eq!(exchanged.status(), StatusCode::OK);
    let exchanged = Tokens::from_body(exchanged.json().await.unwrap());
    assert_eq!(exchanged.user_id, tokens.user_id);
    assert_eq!(app.me(&exchanged.access).await.status(), StatusCode::OK);
    assert_problem(
        exchange(code.to_owned()).await,
        StatusCode::BAD_REQUEST,
        "invalid_oauth_state",
    )
    .await;
    // Anywhere else is refused before the provider is even asked.
    for target in [
        "https://evil.example.com/",
        "https://spa.example.com.evil.com/",
        "https://evil.example.com@spa.example.com/",
        "https://spa.example.com:8443/signed-in",
        "http://spa.example.com/signed-in",
        "//spa.example.com/signed-in",
        "javascript:alert(1)",
    ] {
        let response = app
            .client
            .get(app.url(&of_provider(paths::OAUTH_AUTHORIZE, "github")))
            .query(&[("redirect_to", target)])
            .send()
            .await
            .unwrap();
        assert_problem(response, StatusCode::BAD_REQUEST, "redirect_not_allowed").await;
    }
}

#[tokio::test]
async fn the_binding_cookie_is_secure_unless_the_service_is_plain_http_off_loopback() {
    let oidc = Provider::start(false).await;
    for (public, secure) in [
        ("https://auth.example.com", true),
        ("http://127.0.0.1:3001", true),
        ("http://localhost:3001", true),
        ("http://192.168.1.20:3001", false),
    ] {
        let app = app_with(&oidc, None, &[("PUBLIC_BASE_URL", public)]).await;
        let response = app
            .client
            .get(app.url(&of_provider(paths::OAUTH_AUTHORIZE, "acme")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FOUND);
        let set_cookie = response.headers()["set-cookie"].to_str().unwrap();
        assert!(set_cookie.starts_with("cz_oauth="), "{set_cookie}");
        assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"));
        assert_eq!(
            set_cookie.contains("Secure"),
            secure,
            "{public}: {set_cookie}"
        );
    }
}

/// A provider proves the first factor only: a user with TOTP stops at
/// `mfa_required` (JSON, or in the redirect's fragment) and completes at
/// `/auth/mfa/verify`; the token says `fed`, `otp`, `mfa`.
#[tokio::test]
async fn a_provider_sign_in_of_a_user_with_totp_needs_the_second_factor() {
    let oidc = Provider::start(false).await;
    let app = app_with(&oidc, None, &[]).await;
    oidc.next(person("dora-1", "dora@example.com"));
    let first = Tokens::from_body(sign_in(&app, "acme").await.json().await.unwrap());
    assert_eq!(crate::tokens::claims_of(&first.access).amr, ["fed"]);
    let (authenticator, _) = crate::mfa::enable_totp(&app, &first.access).await;

    oidc.next(person("dora-1", "dora@example.com"));
    let token = crate::mfa::mfa_token_of(sign_in(&app, "acme").await).await;
    let body = json!({"mfa_token": token, "code": authenticator.next_code()});
    let verified = crate::mfa::verify(&app, &body).await;
    assert_eq!(verified.status(), StatusCode::OK);
    let verified = Tokens::from_body(verified.json().await.unwrap());
    assert_eq!(verified.user_id, first.user_id);
    let amr = crate::tokens::claims_of(&verified.access).amr;
    assert_eq!(amr, ["otp", "fed", "mfa"]);

    oidc.next(person("dora-1", "dora@example.com"));
    let flow = start(&app, "acme", "?redirect_to=https://spa.example.com/done").await;
    let redirect = finish(&app, &flow).await;
    assert_eq!(redirect.status(), StatusCode::FOUND);
    let location = redirect.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with("https://spa.example.com/done#error=mfa_required&mfa_token="),
        "{location}"
    );
    assert!(
        location.ends_with("&methods=totp,recovery_code"),
        "{location}"
    );
    assert!(!location.contains("access_token"), "{location}");
}

/// The hosted pages with a provider, JavaScript off: "Sign in with Acme"
/// goes to the provider, whose callback lands on the pages with the code in
/// the query, which opens the browser session; the account page links and
/// unlinks it.
#[tokio::test]
async fn the_pages_sign_in_link_and_unlink_with_a_provider() {
    use crate::pages::{Browser, SESSION_COOKIE};
    let oidc = Provider::start(false).await;
    let app = app_with(&oidc, None, &[]).await;
    let mut browser = Browser::new(&app);
    let page = browser.get(paths::UI_SIGN_IN).await;
    assert!(
        page.text().contains(">Sign in with Acme</button>"),
        "{}",
        page.html
    );

    // A first sign-in with the provider creates the account and signs the browser in.
    oidc.next(person("dora-ext", "dora@example.com"));
    let started = browser
        .submit(&page, paths::UI_FEDERATED_START, &[("provider", "acme")])
        .await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.html);
    let binding = started.headers["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        binding.starts_with("cz_oauth=") && binding.contains(&format!("Path={}", paths::OAUTH))
    );
    let callback = through_provider(&app, started.location()).await;
    let callback = callback.strip_prefix(&app.address).unwrap().to_owned();
    let landed = browser.get(&callback).await;
    assert_eq!(landed.status, StatusCode::FOUND, "{}", landed.html);
    let landing = landed.location().replace(PUBLIC, "");
    assert!(
        landing.starts_with(paths::UI_FEDERATED) && landing.contains("code="),
        "{landing}"
    );
    let signed_in = browser.get(&landing).await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.html
    );
    assert_eq!(signed_in.location(), paths::UI_ACCOUNT);
    assert!(browser.cookies.contains_key(SESSION_COOKIE));
    let account = browser.follow(&signed_in).await;
    let text = account.text();
    assert!(text.contains("dora@example.com") && text.contains("Linked accounts"));
    // The provider is this account's only way in: unlinking is refused on the page.
    let refused = browser
        .submit(
            &account,
            paths::UI_FEDERATED_UNLINK,
            &[("provider", "acme")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(refused.html.contains("role=\"alert\""));

    // A refusal at the callback (an address the provider did not verify)
    // comes back to the pages as a page, not as a problem document.
    let mut stranger = Browser::new(&app);
    let page = stranger.get(paths::UI_SIGN_IN).await;
    oidc.next(Script {
        email_verified: false,
        ..person("frank-ext", "frank@example.com")
    });
    let started = stranger
        .submit(&page, paths::UI_FEDERATED_START, &[("provider", "acme")])
        .await;
    let callback = through_provider(&app, started.location()).await;
    let callback = callback.strip_prefix(&app.address).unwrap().to_owned();
    let refused = stranger.get(&callback).await;
    assert_eq!(refused.status, StatusCode::FOUND, "{}", refused.html);
    let landing = refused.location().replace(PUBLIC, "");
    assert_eq!(
        landing,
        format!("{}?error=oauth_email_unverified", paths::UI_FEDERATED)
    );
    let shown = stranger.get(&landing).await;
    assert_eq!(shown.status, StatusCode::FORBIDDEN);
    assert!(
        shown.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        shown
            .text()
            .contains("did not share a verified email address")
    );

    // A local account links the provider from its account page.
    let email = "erin@example.com";
    app.register_verified(email).await;
    let mut local = Browser::new(&app);
    let signed_in = local.sign_in(email, crate::helpers::PASSWORD, None).await;
    let account = local.follow(&signed_in).await;
    assert!(account.text().contains(">Link Acme</button>"));
    oidc.next(person("erin-ext", "erin.work@example.com"));
    let started = local
        .submit(&account, paths::UI_FEDERATED_LINK, &[("provider", "acme")])
        .await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.html);
    let callback = through_provider(&app, started.location()).await;
    let callback = callback.strip_prefix(&app.address).unwrap().to_owned();
    let landed = local.get(&callback).await;
    let landing = landed.location().replace(PUBLIC, "");
    assert!(landing.contains("linked=acme"), "{landing}");
    let linked = local.get(&landing).await;
    let account = local.follow(&linked).await;
    assert!(account.text().contains("The account is linked"));
    let unlinked = local
        .submit(
            &account,
            paths::UI_FEDERATED_UNLINK,
            &[("provider", "acme")],
        )
        .await;
    assert_eq!(unlinked.status, StatusCode::SEE_OTHER, "{}", unlinked.html);
    assert!(unlinked.location().contains("notice=provider_unlinked"));
}
