//! The hosted pages without a browser: forms posted as a browser with
//! JavaScript off posts them (cookies kept by hand, redirects followed one by
//! one), cross-site forgeries, the headers and cookies of every page,
//! open-redirect attempts, German pages, templates overridden from a
//! directory, refusals shown as pages.

use api_types::{SessionDto, paths};
use reqwest::StatusCode;
use reqwest::header::SET_COOKIE;
use testkit::{SmtpSink, link_token};
use uuid::Uuid;

use crate::helpers::{PASSWORD, spawn_app, spawn_app_with, spawn_peer};
use crate::mfa::enable_totp;
use crate::pages::{Browser, SESSION_COOKIE};

fn email() -> String {
    format!("page-{}@example.com", Uuid::new_v4().simple())
}

#[tokio::test]
async fn sign_up_opens_a_browser_session_listed_like_any_other() {
    let app = spawn_app().await;
    let mut browser = Browser::new(&app);
    let email = email();
    let account = browser.sign_up(&email).await;
    assert_eq!(account.status, StatusCode::OK, "{}", account.html);
    let text = account.text();
    assert!(text.contains("Ada Lovelace") && text.contains(&email));
    assert!(text.contains("This browser"));
    assert!(text.contains("role=\"status\""), "the verification notice");
    // The cookie: HttpOnly, SameSite=Lax, Secure on a loopback base URL,
    // __Host- prefixed, the session's lifetime.
    assert!(browser.cookies.contains_key(SESSION_COOKIE));

    // The JSON API sees the browser's session among the user's.
    let tokens =
        crate::helpers::Tokens::from_body(app.login(&email, PASSWORD).await.json().await.unwrap());
    let sessions: Vec<SessionDto> = app
        .get_auth(paths::SESSIONS, &tokens.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sessions.len(), 2);
    let browser_session = sessions.iter().find(|s| !s.current).unwrap();

    // Revoked through the API on another instance: the page sends the
    // browser to sign in at once.
    let peer = spawn_peer(&app, &[]).await;
    let revoked = peer
        .client
        .delete(peer.url(&paths::fill(
            paths::SESSION,
            &[&browser_session.id.to_string()],
        )))
        .bearer_auth(&tokens.access)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    // The revocation reaches this instance's in-process cache through Redis
    // (milliseconds; the cache tests measure it).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    let gone = loop {
        let page = browser.get(paths::UI_ACCOUNT).await;
        if page.status == StatusCode::SEE_OTHER || std::time::Instant::now() > deadline {
            break page;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(gone.status, StatusCode::SEE_OTHER);
    assert!(gone.location().starts_with(paths::UI_SIGN_IN));
    assert!(
        !browser.cookies.contains_key(SESSION_COOKIE),
        "a dead session's cookie is cleared"
    );
}

#[tokio::test]
async fn every_page_carries_the_page_headers_and_the_cookies_their_attributes() {
    let app = spawn_app().await;
    let mut browser = Browser::new(&app);
    for path in [
        paths::UI_SIGN_IN,
        paths::UI_SIGN_UP,
        paths::UI_FORGOT_PASSWORD,
        "/ui/reset-password?token=abc",
        "/ui/verify-email?token=abc",
        "/ui/no-such-page",
    ] {
        let page = browser.get(path).await;
        let csp = page.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{csp}"
        );
        assert_eq!(page.headers["cache-control"], "no-store", "{path}");
        assert_eq!(page.headers["x-frame-options"], "DENY");
        assert!(
            page.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert!(page.html.starts_with("<!doctype html>"), "{path}");
        assert_eq!(page.html.matches("<main").count(), 1, "{path}");
        assert_eq!(page.html.matches("<h1").count(), 1, "{path}");
    }
    // The forms' binding cookie came with the first page.
    let first = Browser::new(&app).get(paths::UI_SIGN_IN).await;
    let set: Vec<&str> = first
        .headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    let forms = set
        .iter()
        .find(|c| c.starts_with("__Host-cz_forms="))
        .unwrap();
    for attribute in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(forms.contains(attribute), "{forms}");
    }
    // The session cookie, once signed up.
    let mut browser = Browser::new(&app);
    let form = browser.get(paths::UI_SIGN_UP).await;
    let done = browser
        .submit(
            &form,
            paths::UI_SIGN_UP,
            &[
                ("name", "Grace"),
                ("email", &email()),
                ("password", PASSWORD),
            ],
        )
        .await;
    let session = done
        .headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with(SESSION_COOKIE))
        .unwrap();
    for attribute in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/", "Max-Age="] {
        assert!(session.contains(attribute), "{session}");
    }
    // The API keeps its own, stricter policy.
    let api = app
        .client
        .get(app.url(paths::HEALTHZ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        api.headers()["content-security-policy"],
        http_kit_json_csp()
    );
    // Static files: hashed names, cached for a year.
    let stylesheet = first
        .text()
        .split("<link rel=\"stylesheet\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let css = app.client.get(app.url(&stylesheet)).send().await.unwrap();
    assert_eq!(css.status(), StatusCode::OK);
    assert!(
        css.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
}

fn http_kit_json_csp() -> &'static str {
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
}

#[tokio::test]
async fn forged_posts_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let mut browser = Browser::new(&app);
    let account = browser.sign_up(&email()).await;
    let token = account.token(paths::UI_SIGN_OUT);

    // A foreign Origin, even with a valid token.
    let forged = browser
        .post_raw(
            paths::UI_SIGN_OUT,
            &[("csrf_token", &token)],
            Some("https://evil.example"),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(
        forged.html.contains("role=\"alert\""),
        "a page: {}",
        forged.html
    );
    // No token; a wrong one; the token of another form; no cookie binding.
    let origin = app.address.clone();
    let missing = browser
        .post_raw(paths::UI_SIGN_OUT, &[], Some(&origin))
        .await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    let wrong = browser
        .post_raw(paths::UI_SIGN_OUT, &[("csrf_token", "AAAA")], Some(&origin))
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let other_form = account.token(paths::UI_ACCOUNT_PROFILE);
    let misused = browser
        .post_raw(
            paths::UI_SIGN_OUT,
            &[("csrf_token", &other_form)],
            Some(&origin),
        )
        .await;
    assert_eq!(misused.status, StatusCode::FORBIDDEN);
    let cross_site = app
        .client
        .post(app.url(paths::UI_SIGN_OUT))
        .header("cookie", browser.cookie_header())
        .header("sec-fetch-site", "cross-site")
        .form(&[("csrf_token", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
    let mut stranger = Browser::new(&app);
    stranger.cookies = browser
        .cookies
        .iter()
        .filter(|(name, _)| name.as_str() == SESSION_COOKIE)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let unbound = stranger
        .post_raw(paths::UI_SIGN_OUT, &[("csrf_token", &token)], Some(&origin))
        .await;
    assert_eq!(unbound.status, StatusCode::FORBIDDEN);
    // A renamed account is not renamed by a forgery either.
    let rename = browser
        .post_raw(
            paths::UI_ACCOUNT_PROFILE,
            &[("csrf_token", "x"), ("name", "Mallory")],
            Some(&origin),
        )
        .await;
    assert_eq!(rename.status, StatusCode::FORBIDDEN);

    // Still signed in, still named as before.
    let still = browser.get(paths::UI_ACCOUNT).await;
    assert_eq!(still.status, StatusCode::OK);
    assert!(still.text().contains("Ada Lovelace") && !still.text().contains("Mallory"));
    // The real form works.
    let out = browser.submit(&still, paths::UI_SIGN_OUT, &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(out.location().starts_with(paths::UI_SIGN_IN));
    let after = browser.get(paths::UI_ACCOUNT).await;
    assert_eq!(after.status, StatusCode::SEE_OTHER, "signed out");
}

#[tokio::test]
async fn sign_in_without_javascript_shows_refusals_on_the_field_and_lands_only_on_this_origin() {
    let app = spawn_app().await;
    let email = email();
    app.register_as(&email).await;
    let mut browser = Browser::new(&app);

    let wrong = browser
        .sign_in(&email, "not the password at all", None)
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let html = wrong.text();
    assert!(
        html.contains("aria-invalid=\"true\" aria-describedby=\"password-error\""),
        "{html}"
    );
    assert!(
        html.contains("id=\"password-error\" role=\"alert\""),
        "{html}"
    );
    assert!(html.contains("The email or password is incorrect."));
    assert!(
        html.contains(&format!("value=\"{email}\"")),
        "the address is kept"
    );
    assert!(
        !html.contains("not the password at all"),
        "a password is never echoed"
    );
    assert!(!browser.cookies.contains_key(SESSION_COOKIE));

    // Where a sign-in may land: same-origin paths only.
    let landed = browser
        .sign_in(&email, PASSWORD, Some("/ui/account?tab=1"))
        .await;
    assert_eq!(landed.status, StatusCode::SEE_OTHER, "{}", landed.html);
    assert_eq!(landed.location(), "/ui/account?tab=1");
    for hostile in [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
        "/%0d%0aSet-Cookie:x=y",
        "http:evil.example",
    ] {
        let mut other = Browser::new(&app);
        let landed = other.sign_in(&email, PASSWORD, Some(hostile)).await;
        assert_eq!(landed.status, StatusCode::SEE_OTHER, "{hostile}");
        let location = landed.location();
        assert!(
            location.starts_with('/') && !location.starts_with("//") && !location.contains("evil"),
            "{hostile} → {location}"
        );
    }
}

#[tokio::test]
async fn a_second_sign_in_replaces_the_browser_session() {
    let app = spawn_app().await;
    let email = email();
    let mut browser = Browser::new(&app);
    browser.sign_up(&email).await;
    let first = browser.cookies[SESSION_COOKIE].clone();
    let again = browser.sign_in(&email, PASSWORD, None).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    let second = browser.cookies[SESSION_COOKIE].clone();
    assert_ne!(first, second, "a new session at every sign-in");
    // The old cookie names a revoked session.
    let mut old = Browser::new(&app);
    old.cookies.insert(SESSION_COOKIE.to_owned(), first.clone());
    assert_eq!(
        old.get(paths::UI_ACCOUNT).await.status,
        StatusCode::SEE_OTHER
    );
    // A forged cookie (another session's id, or a changed MAC) is nobody.
    let (id, mac) = second.split_once('.').unwrap();
    for forged in [
        format!("{id}.{}", &mac[1..]),
        format!("{}.{mac}", Uuid::now_v7().simple()),
        id.to_owned(),
    ] {
        let mut forger = Browser::new(&app);
        forger.cookies.insert(SESSION_COOKIE.to_owned(), forged);
        assert_eq!(
            forger.get(paths::UI_ACCOUNT).await.status,
            StatusCode::SEE_OTHER
        );
    }
    assert_eq!(browser.get(paths::UI_ACCOUNT).await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_second_factor_step_and_step_up_work_without_javascript() {
    let app = spawn_app().await;
    let email = email();
    let user = app.register_verified(&email).await;
    let (authenticator, recovery_codes) = enable_totp(&app, &user.access).await;

    let mut browser = Browser::new(&app);
    let asked = browser.sign_in(&email, PASSWORD, None).await;
    assert_eq!(asked.status, StatusCode::SEE_OTHER);
    assert!(asked.location().starts_with(paths::UI_SECOND_FACTOR));
    assert!(
        !browser.cookies.contains_key(SESSION_COOKIE),
        "not signed in yet"
    );
    let step = browser.follow(&asked).await;
    assert_eq!(step.status, StatusCode::OK);
    let html = step.text();
    assert!(html.contains("name=\"code\"") && html.contains("autocomplete=\"one-time-code\""));
    assert!(html.contains("name=\"recovery_code\""));

    let wrong = browser
        .submit(&step, paths::UI_SECOND_FACTOR, &[("code", "000000")])
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(
        wrong
            .text()
            .contains("aria-invalid=\"true\" aria-describedby=\"code-error\"")
    );
    let code = authenticator.next_code();
    let done = browser
        .submit(&wrong, paths::UI_SECOND_FACTOR, &[("code", &code)])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    assert_eq!(done.location(), paths::UI_ACCOUNT);
    assert!(browser.cookies.contains_key(SESSION_COOKIE));
    assert!(!browser.cookies.contains_key("__Host-cz_second_factor"));

    // A recovery code works too, once.
    let mut other = Browser::new(&app);
    let asked = other.sign_in(&email, PASSWORD, None).await;
    let step = other.follow(&asked).await;
    let done = other
        .submit(
            &step,
            paths::UI_SECOND_FACTOR,
            &[("recovery_code", &recovery_codes[0])],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    assert_eq!(done.location(), paths::UI_ACCOUNT);
}

/// Step-up: with a sign-in older than `STEP_UP_MAX_AGE`, a password change
/// asks "confirm it's you" instead of failing; confirming signs in afresh
/// (a new session replaces the browser's) and the change then goes through.
#[tokio::test]
async fn an_old_sign_in_is_asked_to_confirm_it_is_you() {
    let app = spawn_app_with(&[("STEP_UP_MAX_AGE", "1")]).await;
    let mut browser = Browser::new(&app);
    browser.sign_up(&email()).await;
    let first = browser.cookies[SESSION_COOKIE].clone();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let new_password = [
        ("current_password", PASSWORD),
        ("new_password", "an entirely new passphrase"),
    ];
    let account = browser.get(paths::UI_ACCOUNT).await;
    let change = browser
        .submit(&account, paths::UI_ACCOUNT_PASSWORD, &new_password)
        .await;
    assert_eq!(change.status, StatusCode::SEE_OTHER, "{}", change.html);
    assert!(
        change.location().starts_with(paths::UI_CONFIRM),
        "{}",
        change.location()
    );
    let confirm = browser.follow(&change).await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.text().contains("Confirm it's you"));
    let wrong = browser
        .submit(
            &confirm,
            paths::UI_CONFIRM,
            &[
                ("password", "not it at all"),
                ("return_to", paths::UI_ACCOUNT),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.html);
    let confirmed = browser
        .submit(
            &wrong,
            paths::UI_CONFIRM,
            &[("password", PASSWORD), ("return_to", paths::UI_ACCOUNT)],
        )
        .await;
    assert_eq!(
        confirmed.status,
        StatusCode::SEE_OTHER,
        "{}",
        confirmed.html
    );
    assert_ne!(browser.cookies[SESSION_COOKIE], first, "a fresh session");
    let account = browser.follow(&confirmed).await;
    assert!(account.text().contains("Confirmed."));
    let changed = browser
        .submit(&account, paths::UI_ACCOUNT_PASSWORD, &new_password)
        .await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", changed.html);
    assert!(changed.location().contains("notice=password_changed"));
    // This browser stays signed in (only the others are signed out).
    assert_eq!(browser.get(paths::UI_ACCOUNT).await.status, StatusCode::OK);
}

#[tokio::test]
async fn password_reset_by_mail_through_the_pages() {
    let sink = SmtpSink::start();
    let app = spawn_app_with(&[("SMTP_URL", &sink.url())]).await;
    let email = email();
    let mut browser = Browser::new(&app);
    browser.sign_up(&email).await;
    // The verification mail links to the pages (APP_URL defaults to /ui).
    let mails = sink.wait_for(&email, 1).await;
    let mail = testkit::readable(&mails[0]);
    assert!(
        mail.contains("http://127.0.0.1:3001/ui/verify-email?token="),
        "{mail}"
    );
    let verify_token = link_token(&mail, "verify-email").unwrap();
    // Opening the link spends nothing; its button does.
    let link = browser
        .get(&format!("{}?token={verify_token}", paths::UI_VERIFY_EMAIL))
        .await;
    assert!(link.text().contains("Verify email"));
    let verified = browser
        .submit(&link, paths::UI_VERIFY_EMAIL, &[("token", &verify_token)])
        .await;
    assert_eq!(verified.status, StatusCode::SEE_OTHER, "{}", verified.html);
    // The first proof of the address signs every session out (the API's
    // rule: what was signed in before may be a squatter's).
    assert_eq!(
        verified.location(),
        "/ui/sign-in?notice=email_verified_sign_in"
    );
    assert!(!browser.cookies.contains_key(SESSION_COOKIE));
    let notice = browser.follow(&verified).await;
    assert!(notice.text().contains("Your email address is verified."));
    let again = browser
        .submit(&link, paths::UI_VERIFY_EMAIL, &[("token", &verify_token)])
        .await;
    assert_eq!(
        again.status,
        StatusCode::BAD_REQUEST,
        "a used link is a refusal page"
    );
    assert!(again.html.contains("role=\"alert\""));

    let mut stranger = Browser::new(&app);
    let forgot = stranger.get(paths::UI_FORGOT_PASSWORD).await;
    let sent = stranger
        .submit(&forgot, paths::UI_FORGOT_PASSWORD, &[("email", &email)])
        .await;
    assert_eq!(sent.status, StatusCode::OK);
    assert!(sent.text().contains("role=\"status\""));
    let mails = sink.wait_for(&email, 2).await;
    let mail = testkit::readable(mails.last().unwrap());
    let token = link_token(&mail, "reset-password").expect("a reset link to the pages");
    let form = stranger
        .get(&format!("{}?token={token}", paths::UI_RESET_PASSWORD))
        .await;
    let weak = stranger
        .submit(
            &form,
            paths::UI_RESET_PASSWORD,
            &[("token", &token), ("new_password", "short")],
        )
        .await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        weak.text()
            .contains("aria-describedby=\"new_password-error")
    );
    let reset = stranger
        .submit(
            &weak,
            paths::UI_RESET_PASSWORD,
            &[
                ("token", &token),
                ("new_password", "a brand new passphrase"),
            ],
        )
        .await;
    assert_eq!(reset.status, StatusCode::SEE_OTHER, "{}", reset.html);
    // Every session ended, the first browser's too.
    assert_eq!(
        browser.get(paths::UI_ACCOUNT).await.status,
        StatusCode::SEE_OTHER
    );
    let signed_in = stranger
        .sign_in(&email, "a brand new passphrase", None)
        .await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
    assert_eq!(signed_in.location(), paths::UI_ACCOUNT);
}

#[tokio::test]
async fn pages_speak_german_when_asked() {
    let app = spawn_app().await;
    let mut browser = Browser::new(&app);
    browser.language = "de-DE,de;q=0.9,en;q=0.5";
    let page = browser.get(paths::UI_SIGN_IN).await;
    let html = page.text();
    assert!(html.contains("<html lang=\"de\">"));
    assert!(html.contains(">Anmelden</button>"));
    let wrong = browser.sign_in(&email(), "wrong password here", None).await;
    assert!(wrong.text().contains("E-Mail oder Passwort ist falsch."));
    browser.language = "fr";
    assert!(
        browser
            .get(paths::UI_SIGN_IN)
            .await
            .text()
            .contains("<html lang=\"en\">")
    );
}

#[tokio::test]
async fn templates_and_messages_can_be_overridden_from_a_directory() {
    let dir = std::env::temp_dir().join(format!("czt-ui-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(dir.join("messages")).unwrap();
    std::fs::write(
        dir.join("messages/en.json"),
        r#"{"button_sign_in": "Enter the Zest"}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("forgot_password.html"),
        "{% extends \"base.html\" %}{% block title %}Lost{% endblock %}\
         {% block heading %}Lost your key?{% endblock %}{% block content %}<p>Call us.</p>{% endblock %}",
    )
    .unwrap();
    let app = spawn_app_with(&[
        ("UI_TEMPLATES_DIR", dir.to_str().unwrap()),
        ("UI_PRODUCT_NAME", "Zest Corp"),
        ("UI_PRIMARY_COLOR", "#aa3300"),
    ])
    .await;
    let mut browser = Browser::new(&app);
    let sign_in = browser.get(paths::UI_SIGN_IN).await.text();
    assert!(sign_in.contains(">Enter the Zest</button>"), "{sign_in}");
    assert!(sign_in.contains("Zest Corp"));
    let forgot = browser.get(paths::UI_FORGOT_PASSWORD).await.text();
    assert!(forgot.contains("Lost your key?") && forgot.contains("Call us."));
    // The colour arrives as a stylesheet of its own (no inline style).
    let theme = sign_in
        .split("href=\"")
        .filter_map(|rest| rest.split('"').next())
        .find(|href| href.contains("/theme."))
        .unwrap()
        .to_owned();
    let css = app
        .client
        .get(app.url(&theme))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(css.contains("#aa3300"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn every_refusal_is_a_page() {
    let app = spawn_app().await;
    let mut browser = Browser::new(&app);
    let cases = [
        ("/ui/no-such-page", StatusCode::NOT_FOUND),
        ("/ui/reset-password", StatusCode::BAD_REQUEST),
        ("/ui/verify-email?token=", StatusCode::BAD_REQUEST),
        ("/ui/static/nothing.css", StatusCode::NOT_FOUND),
    ];
    for (path, status) in cases {
        let page = browser.get(path).await;
        assert_eq!(page.status, status, "{path}");
        assert!(
            page.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{path}"
        );
        assert!(
            page.html.contains("role=\"alert\""),
            "{path}: {}",
            page.html
        );
    }
    // A used or made-up reset token, posted.
    let form = browser.get("/ui/reset-password?token=made-up").await;
    let refused = browser
        .submit(
            &form,
            paths::UI_RESET_PASSWORD,
            &[
                ("token", "made-up"),
                ("new_password", "a brand new passphrase"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.text().contains("This link is invalid"));
    // A form missing its fields; a method the page does not take.
    let form = browser.get(paths::UI_SIGN_IN).await;
    let malformed = browser.submit(&form, paths::UI_SIGN_IN, &[]).await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert!(malformed.html.starts_with("<!doctype html>"));
    let put = app
        .client
        .put(app.url(paths::UI_SIGN_IN))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(
        put.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    // Pages that need a user send everyone else to sign in, and back.
    let anonymous = browser.get(paths::UI_ACCOUNT).await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
    assert_eq!(anonymous.location(), paths::UI_SIGN_IN);
    // The API's unknown paths are still problem+json.
    let api = app
        .client
        .get(app.url(&format!("{}/nothing", paths::API)))
        .send()
        .await
        .unwrap();
    assert_eq!(api.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn the_pages_can_be_turned_off() {
    let app = spawn_app_with(&[("UI_ENABLED", "false")]).await;
    let page = app
        .client
        .get(app.url(paths::UI_SIGN_IN))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    assert_eq!(page.headers()["content-type"], "application/problem+json");
}

/// The link of a "sign-in method added" notice opens a page whose button
/// removes the method and signs every session out; a passkey cannot be added
/// without the pages' script, and the page says so.
#[tokio::test]
async fn a_notice_link_removes_the_method_and_passkeys_say_they_need_javascript() {
    let app = spawn_app_with(&[
        ("WEBAUTHN_RP_ID", "localhost"),
        ("WEBAUTHN_RP_ORIGIN", "http://localhost:3000"),
    ])
    .await;
    let email = email();
    let user = app.register_verified(&email).await;
    enable_totp(&app, &user.access).await;
    let mut browser = Browser::new(&app);
    let token = app.mailed_link(&email, "remove-sign-in-method").await;
    let link = browser
        .get(&format!(
            "{}?token={token}",
            paths::UI_REMOVE_SIGN_IN_METHOD
        ))
        .await;
    assert_eq!(link.status, StatusCode::OK);
    let removed = browser
        .submit(&link, paths::UI_REMOVE_SIGN_IN_METHOD, &[])
        .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER, "{}", removed.html);
    assert!(removed.location().contains("notice=method_removed"));
    // TOTP is gone: a password alone signs in, and every old token is dead.
    let me = app.get_auth(paths::ME, &user.access).await;
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
    let signed_in = browser.sign_in(&email, PASSWORD, None).await;
    assert_eq!(signed_in.location(), paths::UI_ACCOUNT);
    let again = browser
        .submit(&link, paths::UI_REMOVE_SIGN_IN_METHOD, &[])
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "a used link");

    // The account lists the passkey form; posted without the script's
    // ceremony it explains what is missing.
    let account = browser.get(paths::UI_ACCOUNT).await;
    assert!(account.text().contains(">Add a passkey</button>"));
    let refused = browser
        .submit(
            &account,
            paths::UI_ACCOUNT_PASSKEYS,
            &[("passkey_name", "Laptop")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.text().contains("needs JavaScript"));
}

/// Name and profile in one form: an invalid field is named on the page and
/// nothing is saved; a valid form saves all of it, as the API reads it.
#[tokio::test]
async fn the_profile_form_saves_all_or_names_what_is_wrong() {
    let app = spawn_app().await;
    let mut browser = Browser::new(&app);
    let email = email();
    let account = browser.sign_up(&email).await;
    let fields = |website: &'static str| {
        [
            ("name", "Ada King"),
            ("bio", "Analyst.\nPoet of science."),
            ("location", "London"),
            ("website", website),
            ("avatar_url", ""),
        ]
    };
    let refused = browser
        .submit(
            &account,
            paths::UI_ACCOUNT_PROFILE,
            &fields("javascript:alert(1)"),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text();
    assert!(
        html.contains("aria-invalid=\"true\" aria-describedby=\"website-error\""),
        "{html}"
    );
    assert!(
        html.contains("value=\"Ada King\""),
        "what was typed is shown again: {html}"
    );
    assert!(
        html.contains("value=\"javascript:alert(1)\""),
        "escaped, in an attribute"
    );
    let stored =
        crate::helpers::Tokens::from_body(app.login(&email, PASSWORD).await.json().await.unwrap());
    let before: api_types::UserResponse = app.me(&stored.access).await.json().await.unwrap();
    assert_eq!(before.user.name, "Ada Lovelace", "nothing saved");
    let saved = browser
        .submit(
            &refused,
            paths::UI_ACCOUNT_PROFILE,
            &fields("https://ada.example"),
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    let tokens =
        crate::helpers::Tokens::from_body(app.login(&email, PASSWORD).await.json().await.unwrap());
    let me: api_types::UserResponse = app.me(&tokens.access).await.json().await.unwrap();
    assert_eq!(me.user.name, "Ada King");
    let profile = me.user.profile.expect("a profile");
    assert_eq!(profile.bio.as_deref(), Some("Analyst.\nPoet of science."));
    assert_eq!(profile.website.as_deref(), Some("https://ada.example"));
    assert_eq!(profile.avatar_url, None);
}

/// An email change refused for a wrong password keeps the typed address and
/// marks the password; with the right one the change is mailed for.
#[tokio::test]
async fn the_email_change_form_keeps_the_address_and_marks_the_password() {
    let app = spawn_app().await;
    let mut browser = Browser::new(&app);
    let account = browser.sign_up(&email()).await;
    let new_email = email();
    let refused = browser
        .submit(
            &account,
            paths::UI_ACCOUNT_EMAIL,
            &[
                ("new_email", &new_email),
                ("password", "not the password at all"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let html = refused.text();
    assert!(html.contains(&format!("value=\"{new_email}\"")), "{html}");
    assert!(
        html.contains("aria-describedby=\"email_password-error\""),
        "{html}"
    );
    assert!(!html.contains("not the password at all"));
    let requested = browser
        .submit(
            &refused,
            paths::UI_ACCOUNT_EMAIL,
            &[("new_email", &new_email), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(
        requested.status,
        StatusCode::SEE_OTHER,
        "{}",
        requested.html
    );
    assert!(requested.location().contains("notice=email_change_sent"));
}
