//! A relying party written by someone else: the `openidconnect` crate (v4,
//! the Rust ecosystem's OpenID Connect client) signs a user in — discovery,
//! the code flow with PKCE, the ID token checked with its nonce and
//! `at_hash` against the JWKS, userinfo, refresh, a `client_credentials`
//! token — and logs them out through the front channel. None of the
//! provider's code checks what the provider says here.

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreUserInfoClaims};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl,
    LogoutRequest, Nonce, OAuth2TokenResponse as _, PkceCodeChallenge, PostLogoutRedirectUrl,
    ProviderMetadataWithLogout, RedirectUrl, Scope, TokenResponse as _,
};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, spawn_app_with};
use crate::oidc::{CB, Rp, redirect_params, register_rp};
use crate::pages::Browser;

const BYE: &str = "https://rp.example.com/bye";

/// The provider at the address its issuer names (so a relying party's
/// discovery checks hold), its base URL, and a confidential relying party
/// with `post_logout` registered, allowed every scope.
pub(crate) async fn provider_with_a_relying_party(
    name: &str,
    post_logout: &str,
) -> (TestApp, String, Rp) {
    let port = testkit::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let app = spawn_app_with(&[
        ("BIND_ADDR", &format!("127.0.0.1:{port}")),
        ("PUBLIC_BASE_URL", &base),
    ])
    .await;
    let rp = register_rp(
        &app,
        json!({"name": name, "redirect_uris": [CB], "post_logout_redirect_uris": [post_logout],
               "scopes": ["openid", "profile", "email", "offline_access"]}),
    )
    .await;
    (app, base, rp)
}

#[tokio::test]
async fn the_openidconnect_crate_signs_a_user_in_refreshes_and_logs_out() {
    let (app, base, rp) = provider_with_a_relying_party("Wiki", BYE).await;
    let http = openidconnect::reqwest::Client::builder()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let metadata = ProviderMetadataWithLogout::discover_async(IssuerUrl::new(base).unwrap(), &http)
        .await
        .expect("discovery");
    let end_session = metadata
        .additional_metadata()
        .end_session_endpoint
        .clone()
        .expect("end_session_endpoint");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(rp.id.clone()),
        rp.secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(CB.to_owned()).unwrap());

    // The browser follows the client's authorization URL, signs up, allows.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".to_owned()))
        .add_scope(Scope::new("offline_access".to_owned()))
        .set_pkce_challenge(challenge)
        .url();
    let mut browser = Browser::new(&app);
    let email = format!("crate-rp-{}@example.com", uuid::Uuid::new_v4().simple());
    browser.sign_up(&email).await;
    let path = &url.as_str()[url.origin().ascii_serialization().len()..];
    let consent = browser.get(path).await;
    assert_eq!(consent.status, StatusCode::OK, "{}", consent.html);
    let allowed = browser
        .submit(
            &consent,
            api_types::paths::UI_CONSENT,
            &[("decision", "allow")],
        )
        .await;
    let params = redirect_params(allowed.location());
    assert_eq!(&params["state"], state.secret());

    // The code, with the PKCE verifier; the ID token as the crate checks it.
    let tokens = client
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("the code exchange");
    let id_token = tokens.id_token().expect("an ID token").clone();
    let id_verifier = client.id_token_verifier();
    let claims = id_token
        .claims(&id_verifier, &nonce)
        .expect("a valid ID token");
    let expected_hash = claims.access_token_hash().expect("at_hash");
    let actual_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&id_verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(&actual_hash, expected_hash);
    assert_eq!(
        claims.email().map(|e| e.as_str()),
        None,
        "claims come from userinfo"
    );

    // Userinfo, for the subject the ID token named.
    let info: CoreUserInfoClaims = client
        .user_info(
            tokens.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo");
    assert_eq!(info.email().map(|e| e.as_str()), Some(email.as_str()));

    // Refresh (offline_access), rotating.
    let refresh = tokens.refresh_token().expect("a refresh token");
    let refreshed = client
        .exchange_refresh_token(refresh)
        .unwrap()
        .request_async(&http)
        .await
        .expect("the refresh");
    assert_ne!(
        refreshed.refresh_token().map(|t| t.secret()),
        Some(refresh.secret())
    );

    // A token for the client itself.
    let own = client
        .exchange_client_credentials()
        .unwrap()
        .add_scope(Scope::new("profile".to_owned()))
        .request_async(&http)
        .await
        .expect("client_credentials");
    assert!(own.refresh_token().is_none());

    // RP-initiated logout with the ID token as hint: back at the client with
    // its state, and the application's tokens are dead.
    let logout = LogoutRequest::from(end_session)
        .set_id_token_hint(&id_token)
        .set_client_id(ClientId::new(rp.id.clone()))
        .set_post_logout_redirect_uri(PostLogoutRedirectUrl::new(BYE.to_owned()).unwrap())
        .set_state(CsrfToken::new("bye-state".to_owned()))
        .http_get_url();
    let path = &logout.as_str()[logout.origin().ascii_serialization().len()..];
    let out = browser.get(path).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER, "{}", out.html);
    assert_eq!(out.location(), format!("{BYE}?state=bye-state"));
    let after: Result<CoreUserInfoClaims, _> = client
        .user_info(refreshed.access_token().clone(), None)
        .unwrap()
        .request_async(&http)
        .await;
    assert!(after.is_err(), "the application's session ended");
}
