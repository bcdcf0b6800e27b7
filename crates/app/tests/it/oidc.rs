//! The OpenID provider end to end, driven as a relying party and a browser
//! with JavaScript off would drive it: discovery, the authorization code flow
//! with PKCE through the hosted sign-in and consent pages, the token
//! endpoint, ID tokens checked against the published JWKS, userinfo, refresh,
//! and the refusals the OpenID conformance suite's Basic and Config modules
//! check (transcribed: the suite cannot run here).

use api_types::{
    CreatedClientResponse, DiscoveryDocument, OAuthError, OidcTokenResponse, UserInfoResponse,
    paths,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::admin::admin_of;
use crate::helpers::{PASSWORD, TestApp, spawn_app, spawn_peer};
use crate::pages::Browser;

pub(crate) const CB: &str = "https://rp.example.com/cb";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

pub(crate) struct Rp {
    pub(crate) id: String,
    pub(crate) secret: Option<String>,
}

pub(crate) async fn register_rp(app: &TestApp, body: Value) -> Rp {
    let admin = admin_of(app).await;
    let response = app
        .post_auth(paths::ADMIN_CLIENTS, &admin.access, Some(&body))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: CreatedClientResponse = response.json().await.unwrap();
    Rp {
        id: created.client_id.to_string(),
        secret: created.client_secret,
    }
}

async fn confidential(app: &TestApp) -> Rp {
    register_rp(
        app,
        json!({"name": "Notes", "redirect_uris": [CB],
               "scopes": ["openid", "profile", "email", "offline_access"]}),
    )
    .await
}

/// An authorization request of `rp`; `extra` adds parameters or replaces
/// the defaults.
pub(crate) fn authorize_path(rp: &Rp, extra: &[(&str, &str)]) -> String {
    let defaults = [
        ("client_id", rp.id.as_str()),
        ("redirect_uri", CB),
        ("response_type", "code"),
        ("scope", "openid email offline_access"),
        ("state", "st4te"),
        ("nonce", "n0nce"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in defaults {
        if !extra.iter().any(|(n, _)| *n == name) {
            query.append_pair(name, value);
        }
    }
    for (name, value) in extra {
        query.append_pair(name, value);
    }
    format!("{}?{}", paths::OIDC_AUTHORIZE, query.finish())
}

/// The query parameters of a redirect to the client.
pub(crate) fn redirect_params(location: &str) -> std::collections::HashMap<String, String> {
    assert!(location.starts_with(CB), "{location}");
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

pub(crate) async fn token(app: &TestApp, rp: &Rp, form: &[(&str, &str)]) -> reqwest::Response {
    let mut request = app.client.post(app.url(paths::OIDC_TOKEN)).form(form);
    request = match &rp.secret {
        Some(secret) => request.basic_auth(&rp.id, Some(secret)),
        None => request,
    };
    request.send().await.unwrap()
}

pub(crate) async fn exchange(app: &TestApp, rp: &Rp, code: &str) -> reqwest::Response {
    token(
        app,
        rp,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CB),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
}

pub(crate) async fn oauth_error(response: reqwest::Response, status: StatusCode, error: &str) {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: OAuthError = response.json().await.unwrap();
    assert_eq!(body.error, error, "{body:?}");
}

pub(crate) async fn userinfo(app: &TestApp, access: &str) -> reqwest::Response {
    app.get_auth(paths::OIDC_USERINFO, access).await
}

/// The claims of a JWT after checking it against the JWKS, as a relying
/// party does.
pub(crate) async fn verified_claims(
    app: &TestApp,
    token: &str,
    audience: &str,
    issuer: &str,
) -> Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    let jwks: jsonwebtoken::jwk::JwkSet = app
        .client
        .get(app.url(paths::JWKS))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwk = jwks.find(header.kid.as_deref().unwrap()).expect("the kid");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[issuer]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap()
        .claims
}

/// A browser signed up and signed in; its user's address.
async fn signed_in_browser(app: &TestApp) -> (Browser<'_>, String) {
    let mut browser = Browser::new(app);
    let email = format!("rp-user-{}@example.com", uuid::Uuid::new_v4().simple());
    browser.sign_up(&email).await;
    (browser, email)
}

#[tokio::test]
async fn discovery_lists_what_is_built() {
    let app = spawn_app().await;
    let doc: DiscoveryDocument = app.get_json(paths::OIDC_DISCOVERY).await;
    let base = "http://127.0.0.1:3001";
    assert_eq!(doc.issuer, base);
    assert_eq!(
        doc.authorization_endpoint,
        format!("{base}{}", paths::OIDC_AUTHORIZE)
    );
    assert_eq!(doc.token_endpoint, format!("{base}{}", paths::OIDC_TOKEN));
    assert_eq!(
        doc.userinfo_endpoint,
        format!("{base}{}", paths::OIDC_USERINFO)
    );
    assert_eq!(
        doc.end_session_endpoint,
        format!("{base}{}", paths::OIDC_LOGOUT)
    );
    assert_eq!(
        doc.pushed_authorization_request_endpoint,
        format!("{base}{}", paths::OIDC_PAR)
    );
    assert_eq!(doc.jwks_uri, format!("{base}{}", paths::JWKS));
    assert_eq!(doc.response_types_supported, ["code"]);
    assert_eq!(doc.code_challenge_methods_supported, ["S256"]);
    assert_eq!(doc.id_token_signing_alg_values_supported[0], "RS256");
    assert!(doc.authorization_response_iss_parameter_supported);
    assert!(!doc.require_pushed_authorization_requests);
    assert!(doc.backchannel_logout_supported && doc.backchannel_logout_session_supported);
    assert_eq!(
        doc.scopes_supported,
        ["openid", "profile", "email", "offline_access", "roles"]
    );
}

#[tokio::test]
async fn a_relying_party_signs_a_user_in_with_code_and_pkce() {
    let app = spawn_app().await;
    let peer = spawn_peer(&app, &[]).await;
    let rp = confidential(&app).await;
    let issuer = app
        .get_json::<DiscoveryDocument>(paths::OIDC_DISCOVERY)
        .await
        .issuer;
    let (mut browser, email) = signed_in_browser(&app).await;

    // Signed in, never asked: the consent page, naming the client and scopes.
    let consent = browser.get(&authorize_path(&rp, &[])).await;
    assert_eq!(consent.status, StatusCode::OK, "{}", consent.html);
    let text = consent.text();
    assert!(
        text.contains("Notes") && text.contains("email address"),
        "{text}"
    );
    let csp = consent.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("form-action 'self' https://rp.example.com"),
        "{csp}"
    );
    let allowed = browser
        .submit(&consent, paths::UI_CONSENT, &[("decision", "allow")])
        .await;
    assert_eq!(allowed.status, StatusCode::SEE_OTHER, "{}", allowed.html);
    let params = redirect_params(allowed.location());
    assert_eq!(params["state"], "st4te");
    assert_eq!(params["iss"], issuer);
    let code = params["code"].clone();

    let response = exchange(&app, &rp, &code).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let tokens: OidcTokenResponse = response.json().await.unwrap();
    assert_eq!(tokens.token_type, "Bearer");
    assert_eq!(tokens.scope, "openid email offline_access");
    let refresh = tokens.refresh_token.clone().expect("offline_access");

    // The ID token, as the relying party checks it: RS256 from the JWKS.
    let id_token = tokens.id_token.clone().expect("openid");
    assert_eq!(
        jsonwebtoken::decode_header(&id_token).unwrap().alg,
        jsonwebtoken::Algorithm::RS256
    );
    let id = verified_claims(&app, &id_token, &rp.id, &issuer).await;
    assert_eq!(id["nonce"], "n0nce");
    assert_eq!(id["azp"], rp.id.as_str());
    assert_eq!(id["amr"], json!(["pwd"]));
    let at_hash = URL_SAFE_NO_PAD.encode(&Sha256::digest(tokens.access_token.as_bytes())[..16]);
    assert_eq!(id["at_hash"], at_hash.as_str());
    assert!(id["auth_time"].as_i64().unwrap() <= id["iat"].as_i64().unwrap());
    assert!(id.get("acr").is_none(), "only when asked");

    // The access token: RFC 9068, the client's, its own session.
    let access = crate::tokens::claims_json(&tokens.access_token);
    assert_eq!(access["client_id"], rp.id.as_str());
    assert_eq!(access["scope"], "openid email offline_access");
    assert_ne!(
        access["sid"], id["sid"],
        "the client session is a child of the browser's"
    );

    // Userinfo by scope, on either instance; never the account API.
    for instance in [&app, &peer] {
        let info: UserInfoResponse = userinfo(instance, &tokens.access_token)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(info.sub, id["sub"].as_str().unwrap());
        assert_eq!(info.email.as_deref(), Some(email.as_str()));
        assert_eq!(info.email_verified, Some(false));
        assert_eq!(info.name, None, "no profile scope");
    }
    let me = app.get_auth(paths::ME, &tokens.access_token).await;
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);

    // Refresh: rotating, bound to the client.
    let refreshed = token(
        &app,
        &rp,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let refreshed: OidcTokenResponse = refreshed.json().await.unwrap();
    assert_ne!(refreshed.refresh_token.as_deref(), Some(refresh.as_str()));
    // The first-party API does not take it (and does not spend it).
    let first_party = app
        .post(
            paths::REFRESH,
            &json!({"refresh_token": refreshed.refresh_token}),
        )
        .await;
    assert_eq!(first_party.status(), StatusCode::UNAUTHORIZED);

    // Conformance: the code used twice is refused and what it issued ends.
    oauth_error(
        exchange(&app, &rp, &code).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    for token in [&tokens.access_token, &refreshed.access_token] {
        assert_eq!(
            userinfo(&peer, token).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }

    // The consent is remembered: the next request is answered at once.
    let again = browser.get(&authorize_path(&rp, &[])).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.html);
    let code = redirect_params(again.location())["code"].clone();
    let tokens: OidcTokenResponse = exchange(&app, &rp, &code).await.json().await.unwrap();
    assert_eq!(
        userinfo(&peer, &tokens.access_token).await.status(),
        StatusCode::OK
    );

    // Signing out of the browser ends the client's session on every instance.
    let account = browser.get(paths::UI_ACCOUNT).await;
    let out = browser.submit(&account, paths::UI_SIGN_OUT, &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(
        userinfo(&peer, &tokens.access_token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let _ = PASSWORD;
}

#[tokio::test]
async fn sign_in_consent_and_its_refusals_follow_the_request() {
    let app = spawn_app().await;
    let rp = confidential(&app).await;
    let public = register_rp(
        &app,
        json!({"name": "Mobile", "redirect_uris": [CB], "public": true, "first_party": true}),
    )
    .await;
    let mut browser = Browser::new(&app);
    let email = format!("flow-{}@example.com", uuid::Uuid::new_v4().simple());
    app.register_as(&email).await;

    // Not signed in: to the sign-in page (address filled in from login_hint),
    // then back to the request.
    let start = browser
        .get(&authorize_path(&public, &[("login_hint", &email)]))
        .await;
    assert_eq!(start.status, StatusCode::SEE_OTHER);
    assert!(
        start.location().starts_with(paths::UI_SIGN_IN),
        "{}",
        start.location()
    );
    let form = browser.follow(&start).await;
    assert!(form.text().contains(&format!("value=\"{email}\"")));
    let return_to = url::Url::parse(&format!("http://x{}", start.location()))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "return_to")
        .unwrap()
        .1
        .into_owned();
    let signed_in = browser.sign_in(&email, PASSWORD, Some(&return_to)).await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
    // A first-party client is never asked for consent.
    let answered = browser.follow(&signed_in).await;
    assert_eq!(answered.status, StatusCode::SEE_OTHER, "{}", answered.html);
    let code = redirect_params(answered.location())["code"].clone();
    // A public client: its id, no secret, the verifier.
    let tokens = token(
        &app,
        &public,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CB),
            ("code_verifier", VERIFIER),
            ("client_id", &public.id),
        ],
    )
    .await;
    assert_eq!(tokens.status(), StatusCode::OK);
    let tokens: OidcTokenResponse = tokens.json().await.unwrap();
    assert!(tokens.refresh_token.is_some(), "first-party: always");

    // Deny: access_denied at the client, with state and iss.
    let consent = browser.get(&authorize_path(&rp, &[])).await;
    let denied = browser
        .submit(&consent, paths::UI_CONSENT, &[("decision", "deny")])
        .await;
    let params = redirect_params(denied.location());
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], "st4te");
    assert!(params.contains_key("iss"));

    // prompt=consent asks again, even after Allow; prompt=none answers
    // consent_required instead of asking.
    let consent = browser.get(&authorize_path(&rp, &[])).await;
    browser
        .submit(&consent, paths::UI_CONSENT, &[("decision", "allow")])
        .await;
    let asked = browser
        .get(&authorize_path(&rp, &[("prompt", "consent")]))
        .await;
    assert_eq!(asked.status, StatusCode::OK);
    assert!(asked.text().contains(paths::UI_CONSENT));
    let wider = browser
        .get(&authorize_path(
            &rp,
            &[("prompt", "none"), ("scope", "openid profile")],
        ))
        .await;
    assert_eq!(
        redirect_params(wider.location())["error"],
        "consent_required"
    );

    // Conformance: prompt=none without a session → login_required.
    let mut stranger = Browser::new(&app);
    let none = stranger
        .get(&authorize_path(&rp, &[("prompt", "none")]))
        .await;
    let params = redirect_params(none.location());
    assert_eq!(params["error"], "login_required");
    assert_eq!(params["state"], "st4te");

    // Conformance: an unknown parameter is ignored.
    let extra = browser
        .get(&authorize_path(&rp, &[("unknown_param", "x")]))
        .await;
    assert_eq!(extra.status, StatusCode::SEE_OTHER);
    assert!(redirect_params(extra.location()).contains_key("code"));

    // Conformance: the request by POST works as by GET (and needs no cookie).
    let query = authorize_path(&rp, &[]);
    let form: Vec<(String, String)> =
        url::form_urlencoded::parse(query.split_once('?').unwrap().1.as_bytes())
            .into_owned()
            .collect();
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let posted = stranger
        .post_raw(paths::OIDC_AUTHORIZE, &form, Some("https://rp.example.com"))
        .await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER);
    assert!(posted.location().starts_with(paths::UI_CONSENT));
    let kept = browser.get(posted.location()).await;
    assert_eq!(kept.status, StatusCode::SEE_OTHER, "{}", kept.html);
    assert!(redirect_params(kept.location()).contains_key("code"));
}

#[tokio::test]
async fn bad_requests_get_a_page_or_an_error_at_the_client_never_a_stray_redirect() {
    let app = spawn_app().await;
    let rp = confidential(&app).await;
    let (mut browser, _) = signed_in_browser(&app).await;

    // Conformance: a redirect URI with a suffix, or unknown clients: a page.
    let with_suffix = authorize_path(&rp, &[("redirect_uri", &format!("{CB}/extra"))]);
    let unknown = authorize_path(
        &Rp {
            id: uuid::Uuid::now_v7().to_string(),
            secret: None,
        },
        &[],
    );
    for path in [with_suffix, unknown, paths::OIDC_AUTHORIZE.to_owned()] {
        let page = browser.get(&path).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{path}");
        assert!(page.headers.get(LOCATION).is_none());
        assert!(
            page.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
    }

    // After the redirect URI is known: errors at the client.
    for (extra, error) in [
        (
            &[("response_type", "token")][..],
            "unsupported_response_type",
        ),
        (&[("code_challenge_method", "plain")][..], "invalid_request"),
        (&[("scope", "custom")][..], "invalid_scope"),
        (&[("id_token_hint", "not.a.token")][..], "invalid_request"),
    ] {
        let page = browser.get(&authorize_path(&rp, extra)).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{extra:?}");
        assert_eq!(
            redirect_params(page.location())["error"],
            error,
            "{extra:?}"
        );
    }

    // The token endpoint: RFC 6749 errors.
    let code_flow = browser.get(&authorize_path(&rp, &[])).await;
    let allowed = browser
        .submit(&code_flow, paths::UI_CONSENT, &[("decision", "allow")])
        .await;
    let code = redirect_params(allowed.location())["code"].clone();
    let wrong_verifier = token(
        &app,
        &rp,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CB),
            ("code_verifier", &"x".repeat(43)),
        ],
    )
    .await;
    oauth_error(wrong_verifier, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let wrong_secret = Rp {
        id: rp.id.clone(),
        secret: Some("A".repeat(43)),
    };
    let response = exchange(&app, &wrong_secret, &code).await;
    assert!(response.headers().contains_key("www-authenticate"));
    oauth_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
    oauth_error(
        token(&app, &rp, &[("grant_type", "password")]).await,
        StatusCode::BAD_REQUEST,
        "unsupported_grant_type",
    )
    .await;
    oauth_error(
        token(&app, &rp, &[("grant_type", "authorization_code")]).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    // The refused attempts spent nothing: the right verifier still works.
    assert_eq!(exchange(&app, &rp, &code).await.status(), StatusCode::OK);

    // Userinfo without a token, or with a first-party token's session ended.
    let response = app
        .client
        .get(app.url(paths::OIDC_USERINFO))
        .send()
        .await
        .unwrap();
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    oauth_error(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[tokio::test]
async fn pushed_requests_are_used_once_by_their_client() {
    let app = spawn_app().await;
    let rp = confidential(&app).await;
    let (mut browser, _) = signed_in_browser(&app).await;
    let query = authorize_path(&rp, &[]);
    let mut form: Vec<(String, String)> =
        url::form_urlencoded::parse(query.split_once('?').unwrap().1.as_bytes())
            .into_owned()
            .collect();
    form.retain(|(k, _)| k != "client_id");
    let pushed = app
        .client
        .post(app.url(paths::OIDC_PAR))
        .basic_auth(&rp.id, rp.secret.as_ref())
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(pushed.status(), StatusCode::CREATED);
    let pushed: api_types::ParResponse = pushed.json().await.unwrap();
    assert!(
        pushed
            .request_uri
            .starts_with("urn:ietf:params:oauth:request_uri:")
    );
    assert_eq!(pushed.expires_in, 60);
    let by_reference = |uri: &str| {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", &rp.id)
            .append_pair("request_uri", uri)
            .finish();
        format!("{}?{query}", paths::OIDC_AUTHORIZE)
    };
    let consent = browser.get(&by_reference(&pushed.request_uri)).await;
    assert_eq!(consent.status, StatusCode::OK, "{}", consent.html);
    let again = browser.get(&by_reference(&pushed.request_uri)).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "single use");
    // Unauthenticated pushes are refused.
    let anonymous = app
        .client
        .post(app.url(paths::OIDC_PAR))
        .form(&form)
        .send()
        .await
        .unwrap();
    oauth_error(anonymous, StatusCode::UNAUTHORIZED, "invalid_client").await;
}

/// Users see the applications they allowed and revoke them: the consent is
/// forgotten and the application's tokens stop working at once, on every
/// instance; its sessions are not listed as the user's.
#[tokio::test]
async fn users_list_and_revoke_the_applications_they_allowed() {
    let app = spawn_app().await;
    let peer = spawn_peer(&app, &[]).await;
    let rp = confidential(&app).await;
    let email = format!("grants-{}@example.com", uuid::Uuid::new_v4().simple());
    let api = app.register_as(&email).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&email, PASSWORD, None).await;

    let code = allow(&mut browser, &rp).await;
    let tokens: OidcTokenResponse = exchange(&app, &rp, &code).await.json().await.unwrap();

    // Listed, with the scopes; the application's session is not a "session".
    let grants: Vec<api_types::GrantDto> = app
        .get_auth(paths::GRANTS, &api.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].client_id.to_string(), rp.id);
    assert_eq!(grants[0].name, "Notes");
    assert_eq!(grants[0].scopes, ["openid", "email", "offline_access"]);
    let sessions: Vec<api_types::SessionDto> = app
        .get_auth(paths::SESSIONS, &api.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        sessions.len(),
        2,
        "the API's and the browser's, not the application's"
    );
    let account = browser.get(paths::UI_ACCOUNT).await;
    assert!(account.text().contains("Applications you allowed"));
    assert!(account.text().contains("Notes"));

    // Revoked through the API: its tokens end on the peer at once.
    let grant = paths::GRANT.replace("{client_id}", &rp.id);
    let revoked = app
        .client
        .delete(app.url(&grant))
        .bearer_auth(&api.access)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        userinfo(&peer, &tokens.access_token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let refreshed = token(
        &app,
        &rp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens.refresh_token.as_deref().unwrap()),
        ],
    )
    .await;
    oauth_error(refreshed, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let again = app
        .client
        .delete(app.url(&grant))
        .bearer_auth(&api.access)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    // An application's token cannot list or revoke grants.
    let code = allow(&mut browser, &rp).await;
    let tokens: OidcTokenResponse = exchange(&app, &rp, &code).await.json().await.unwrap();
    assert_eq!(
        app.get_auth(paths::GRANTS, &tokens.access_token)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );

    // Revoked on the account page.
    let account = browser.get(paths::UI_ACCOUNT).await;
    let done = browser
        .submit(&account, paths::UI_ACCOUNT_APP_REVOKE, &[])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    let after = browser.follow(&done).await;
    assert!(after.text().contains("access was revoked"));
    assert_eq!(
        userinfo(&peer, &tokens.access_token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Asked again next time.
    let consent = browser.get(&authorize_path(&rp, &[])).await;
    assert_eq!(consent.status, StatusCode::OK);
}

/// Allows `rp`'s request on the consent page; the code it got.
async fn allow(browser: &mut Browser<'_>, rp: &Rp) -> String {
    let consent = browser.get(&authorize_path(rp, &[])).await;
    let allowed = browser
        .submit(&consent, paths::UI_CONSENT, &[("decision", "allow")])
        .await;
    redirect_params(allowed.location())["code"].clone()
}

/// RP-initiated logout: with a hint naming the signed-in user, signed out at
/// once (with every application's session opened from the browser's) and
/// sent to the registered post-logout URI with `state`; without a hint, asked
/// first; an unregistered URI or a forged hint gets a page and no redirect.
#[tokio::test]
async fn relying_parties_sign_users_out_through_the_front_channel() {
    const BYE: &str = "https://rp.example.com/bye";
    let app = spawn_app().await;
    let peer = spawn_peer(&app, &[]).await;
    let rp = register_rp(
        &app,
        json!({"name": "Notes", "redirect_uris": [CB], "post_logout_redirect_uris": [BYE]}),
    )
    .await;
    let logout = |extra: &[(&str, &str)]| {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in extra {
            query.append_pair(name, value);
        }
        format!("{}?{}", paths::OIDC_LOGOUT, query.finish())
    };
    let (mut browser, _) = signed_in_browser(&app).await;
    let code = allow(&mut browser, &rp).await;
    let tokens: OidcTokenResponse = exchange(&app, &rp, &code).await.json().await.unwrap();
    let hint = tokens.id_token.clone().unwrap();

    // Refusals: a page, no redirect, nobody signed out.
    for bad in [
        logout(&[
            ("client_id", &rp.id),
            ("post_logout_redirect_uri", "https://rp.example.com/other"),
        ]),
        logout(&[("post_logout_redirect_uri", BYE)]),
        logout(&[
            ("id_token_hint", "not.a.token"),
            ("post_logout_redirect_uri", BYE),
        ]),
    ] {
        let page = browser.get(&bad).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(page.headers.get(LOCATION).is_none());
    }
    assert_eq!(
        userinfo(&peer, &tokens.access_token).await.status(),
        StatusCode::OK
    );

    // With the hint: signed out at once, back to the client with its state.
    let out = browser
        .get(&logout(&[
            ("id_token_hint", &hint),
            ("post_logout_redirect_uri", BYE),
            ("state", "l0gout"),
        ]))
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER, "{}", out.html);
    assert_eq!(out.location(), format!("{BYE}?state=l0gout"));
    assert_eq!(
        userinfo(&peer, &tokens.access_token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let account = browser.get(paths::UI_ACCOUNT).await;
    assert_eq!(
        account.status,
        StatusCode::SEE_OTHER,
        "the browser is signed out"
    );

    // Without a hint: asked first, then signed out.
    let (mut browser, _) = signed_in_browser(&app).await;
    let code = allow(&mut browser, &rp).await;
    let tokens: OidcTokenResponse = exchange(&app, &rp, &code).await.json().await.unwrap();
    let asked = browser
        .get(&logout(&[
            ("client_id", &rp.id),
            ("post_logout_redirect_uri", BYE),
        ]))
        .await;
    assert_eq!(asked.status, StatusCode::OK);
    let csp = asked.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("form-action 'self' https://rp.example.com"),
        "{csp}"
    );
    assert_eq!(
        userinfo(&peer, &tokens.access_token).await.status(),
        StatusCode::OK
    );
    let confirmed = browser.submit(&asked, paths::OIDC_LOGOUT, &[]).await;
    assert_eq!(
        confirmed.status,
        StatusCode::SEE_OTHER,
        "{}",
        confirmed.html
    );
    assert_eq!(confirmed.location(), BYE);
    assert_eq!(
        userinfo(&peer, &tokens.access_token).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Nobody signed in: straight back to the client.
    let mut stranger = Browser::new(&app);
    let back = stranger
        .get(&logout(&[
            ("id_token_hint", &hint),
            ("post_logout_redirect_uri", BYE),
        ]))
        .await;
    assert_eq!(back.status, StatusCode::SEE_OTHER);
    assert_eq!(back.location(), BYE);
}

/// Conformance: `max_age=1` two seconds after signing in means signing in
/// again, and the ID token's `auth_time` is the new sign-in's; `acr` is there
/// when asked for. Introspection tells the token's application and scope.
#[tokio::test]
async fn max_age_asks_for_a_fresh_sign_in_and_introspection_names_the_application() {
    let app = spawn_app().await;
    let rp = confidential(&app).await;
    let (mut browser, email) = signed_in_browser(&app).await;
    let signed_up = time::OffsetDateTime::now_utc().unix_timestamp();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;

    let start = browser
        .get(&authorize_path(
            &rp,
            &[
                ("max_age", "1"),
                ("acr_values", "urn:codezest-auth:acr:mfa"),
            ],
        ))
        .await;
    assert_eq!(start.status, StatusCode::SEE_OTHER, "{}", start.html);
    assert!(
        start.location().starts_with(paths::UI_SIGN_IN),
        "{}",
        start.location()
    );
    let return_to = url::Url::parse(&format!("http://x{}", start.location()))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "return_to")
        .unwrap()
        .1
        .into_owned();
    let signed_in = browser.sign_in(&email, PASSWORD, Some(&return_to)).await;
    let consent = browser.follow(&signed_in).await;
    assert_eq!(consent.status, StatusCode::OK, "{}", consent.html);
    let allowed = browser
        .submit(&consent, paths::UI_CONSENT, &[("decision", "allow")])
        .await;
    let code = redirect_params(allowed.location())["code"].clone();
    let tokens: OidcTokenResponse = exchange(&app, &rp, &code).await.json().await.unwrap();
    let issuer = app
        .get_json::<DiscoveryDocument>(paths::OIDC_DISCOVERY)
        .await
        .issuer;
    let id = verified_claims(&app, tokens.id_token.as_deref().unwrap(), &rp.id, &issuer).await;
    assert!(
        id["auth_time"].as_i64().unwrap() >= signed_up + 2,
        "a newer auth_time: {id}"
    );
    assert_eq!(id["acr"], "urn:codezest-auth:acr:single-factor");

    // An API client introspects the application's token.
    let admin = admin_of(&app).await;
    let created: CreatedClientResponse = app
        .post_auth(
            paths::ADMIN_CLIENTS,
            &admin.access,
            Some(&json!({"name": "gateway"})),
        )
        .await
        .json()
        .await
        .unwrap();
    let introspected: api_types::IntrospectionResponse = app
        .client
        .post(app.url(paths::INTROSPECT))
        .basic_auth(created.client_id, created.client_secret)
        .form(&[("token", tokens.access_token.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(introspected.active);
    assert_eq!(introspected.client_id.as_deref(), Some(rp.id.as_str()));
    assert_eq!(
        introspected.scope.as_deref(),
        Some("openid email offline_access")
    );
}

/// `ui_locales` chooses the language of the sign-in and consent pages of that
/// sign-in over the browser's `Accept-Language` (here English).
#[tokio::test]
async fn ui_locales_choose_the_language_of_the_pages_of_the_sign_in() {
    let app = spawn_app().await;
    let rp = confidential(&app).await;
    let email = format!("locales-{}@example.com", uuid::Uuid::new_v4().simple());
    app.register_as(&email).await;
    let mut browser = Browser::new(&app);
    let lang = |page: &crate::pages::Page| {
        page.html
            .split("<html lang=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_default()
            .to_owned()
    };

    let to_sign_in = browser
        .get(&authorize_path(&rp, &[("ui_locales", "fr-CA de-CH en")]))
        .await;
    let return_to = url::Url::parse(&app.url(to_sign_in.location()))
        .unwrap()
        .query_pairs()
        .find(|(name, _)| name == "return_to")
        .map(|(_, value)| value.into_owned())
        .expect("return_to");
    // The sign-in page, its refusal after a wrong password, the consent page.
    let refused = browser
        .sign_in(&email, "wrong password!", Some(&return_to))
        .await;
    assert_eq!(lang(&refused), "de", "{}", refused.html);
    let signed_in = browser.sign_in(&email, PASSWORD, Some(&return_to)).await;
    let consent = browser.follow(&signed_in).await;
    assert_eq!(consent.status, StatusCode::OK, "{}", consent.html);
    assert_eq!(lang(&consent), "de");
    assert!(consent.text().contains("Notes"));

    // A language we do not speak changes nothing.
    let mut other = Browser::new(&app);
    let answer = other
        .get(&authorize_path(&rp, &[("ui_locales", "fr ja")]))
        .await;
    let sign_in = other.follow(&answer).await;
    assert_eq!(lang(&sign_in), "en");
}
