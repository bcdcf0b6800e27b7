"""The hosted pages in a real browser (Debian's Chromium through chromedriver,
driven by Selenium), as a person uses them: sign-up, the verification mail,
sign-out, a wrong password, sign-in, TOTP enrolment (codes from pyotp, an
implementation independent of the service's), the second step, a passkey
registered with Chromium's virtual authenticator and a passwordless sign-in
with it, revoking another session, a password reset by mail, and single
sign-on into an application (the consent page; then, signed out, the sign-in
and second step in the middle of the flow) that must land on the
application's own page. axe-core checks every page it passes through and
must find no violation.

Run by the Rust test `browser::a_person_does_everything_with_a_real_browser`,
which starts the service, the SMTP sink and hands over their addresses:

    walk.py BASE_URL MAILDIR AXE_JS [SCREENSHOT_DIR]

The application is registered by the test, which serves its redirect URI:
`RP_CLIENT_ID` and `RP_REDIRECT_URI` in the environment.
"""

import email
import email.policy
import os
import re
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import pyotp
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.virtual_authenticator import VirtualAuthenticatorOptions
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

BASE, MAILDIR, AXE = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]).read_text()
SHOTS = Path(sys.argv[4]) if len(sys.argv) > 4 else None
PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new passphrase for the browser"
RP_CLIENT_ID = os.environ["RP_CLIENT_ID"]
RP_REDIRECT_URI = os.environ["RP_REDIRECT_URI"]
# RFC 7636's example pair.
PKCE_CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
CHECKED = []


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
        "--lang=en-US",
        "--disable-features=PasswordLeakDetection",
    ):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"intl.accept_languages": "en-US,en"})
    service = Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(30)
    return driver


def path_of(driver):
    url = urlparse(driver.current_url)
    return url.path + ("?" + url.query if url.query else "")


def wait_for_path(driver, prefix):
    try:
        WebDriverWait(driver, 15).until(lambda d: path_of(d).startswith(prefix))
    except Exception as error:
        text = driver.find_element(By.TAG_NAME, "body").text
        raise AssertionError(f"waited for {prefix}, at {path_of(driver)}: {text}") from error


def axe(driver, name):
    """axe-core on the page as it is: zero violations, and a screenshot."""
    driver.execute_script(AXE)
    result = driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        axe.run(document, {runOnly: {type: 'tag', values:
            ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']}})
          .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact,
             nodes: v.nodes.map(n => n.html)}))))
          .catch(e => done([{id: 'axe-error', impact: 'error', nodes: [String(e)]}]));
        """
    )
    assert result == [], f"axe on {name} ({path_of(driver)}): {result}"
    CHECKED.append(name)
    if SHOTS:
        for scheme in ("light", "dark"):
            driver.execute_cdp_cmd(
                "Emulation.setEmulatedMedia",
                {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
            )
            height = driver.execute_script("return document.documentElement.scrollHeight")
            driver.set_window_size(1280, max(700, min(height + 40, 2600)))
            driver.save_screenshot(str(SHOTS / f"ui-{name}-{scheme}.png"))
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
        driver.set_window_size(1280, 1000)


def left(page):
    """Whether the browser has left the document `page` (its root element):
    any answer but "still here" means it is gone."""

    def gone(_driver):
        try:
            page.is_enabled()
            return False
        except Exception:  # stale, or no longer in any document
            return True

    return gone


def fill(driver, field_id, value):
    element = driver.find_element(By.ID, field_id)
    element.clear()
    element.send_keys(value)


def press(driver, text, within="body"):
    """Clicks the button whose visible text is `text` (as a person would),
    the first inside the element `within` (a CSS selector)."""
    scope = driver.find_element(By.CSS_SELECTOR, within)
    buttons = [
        b for b in scope.find_elements(By.TAG_NAME, "button")
        if b.is_displayed() and b.text.strip() == text
    ]
    assert buttons, f"no button {text!r} on {path_of(driver)}"
    page = driver.find_element(By.TAG_NAME, "html")
    buttons[0].click()
    # Every button here leads to another page (a form's 303, or a passkey
    # ceremony's form): wait until the browser has left this one.
    WebDriverWait(driver, 20).until(left(page))


def mails_to(address):
    found = []
    for path in sorted((MAILDIR / "new").glob("*"), key=lambda p: p.stat().st_mtime):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if message["To"] == address:
            body = message.get_body(preferencelist=("plain",))
            found.append(body.get_content())
    return found


def mailed_link(address, count, page):
    deadline = time.time() + 15
    while time.time() < deadline:
        mails = mails_to(address)
        if len(mails) >= count:
            for mail in reversed(mails):
                match = re.search(rf"https?://\S+/ui/{page}\?token=[\w-]+", mail)
                if match:
                    return match.group(0)
        time.sleep(0.1)
    raise AssertionError(f"no {page} mail to {address}")


def sign_in(driver, address, password):
    driver.get(BASE + "/ui/sign-in")
    fill(driver, "email", address)
    fill(driver, "password", password)
    press(driver, "Sign in")


def sign_in_with_recovery_code(driver, address, password, code):
    """A password, then "Use a recovery code" on the second step."""
    sign_in(driver, address, password)
    wait_for_path(driver, "/ui/second-factor")
    driver.find_element(By.TAG_NAME, "summary").click()
    fill(driver, "recovery_code", code)
    press(driver, "Verify", within="details")
    wait_for_path(driver, "/ui/account")


def authorize(driver, state):
    """The application sends the browser to the provider."""
    query = urlencode({
        "client_id": RP_CLIENT_ID,
        "redirect_uri": RP_REDIRECT_URI,
        "response_type": "code",
        "scope": "openid email",
        "state": state,
        "nonce": "n-" + state,
        "code_challenge": PKCE_CHALLENGE,
        "code_challenge_method": "S256",
    })
    driver.get(BASE + "/oauth2/authorize?" + query)


def landed_on_the_application(driver, state):
    """The browser is on the application's page, with a code for `state`."""
    WebDriverWait(driver, 20).until(lambda d: d.current_url.startswith(RP_REDIRECT_URI))
    params = parse_qs(urlparse(driver.current_url).query)
    assert params["state"] == [state], driver.current_url
    assert params["code"][0] and params["iss"] == [BASE], driver.current_url
    assert "Signed in to the application" in driver.page_source


def main():
    address = f"browser-{int(time.time() * 1000)}@example.com"
    driver = browser()
    other = None
    try:
        # Sign-up, signed in at once, asked to verify the address.
        driver.get(BASE + "/ui/sign-up")
        axe(driver, "sign-up")
        fill(driver, "name", "Ada Lovelace")
        fill(driver, "email", address)
        fill(driver, "password", PASSWORD)
        press(driver, "Create account")
        wait_for_path(driver, "/ui/account")
        assert "Ada Lovelace" in driver.page_source
        assert driver.find_element(By.CSS_SELECTOR, "[role=status]").text
        axe(driver, "account-new")

        # Sign out.
        press(driver, "Sign out")
        wait_for_path(driver, "/ui/sign-in?notice=signed_out")
        axe(driver, "sign-in")

        # The verification mail's link opens a page; its button verifies
        # (and, the first proof of the address, ends every session).
        link = mailed_link(address, 1, "verify-email")
        driver.get(link)
        axe(driver, "verify-email")
        press(driver, "Verify email")
        wait_for_path(driver, "/ui/sign-in?notice=email_verified_sign_in")

        # A wrong password is shown on the field.
        sign_in(driver, address, "not the password at all")
        password = driver.find_element(By.ID, "password")
        assert password.get_attribute("aria-invalid") == "true"
        described = driver.find_element(By.ID, password.get_attribute("aria-describedby"))
        assert described.get_attribute("role") == "alert" and described.text
        axe(driver, "sign-in-refused")

        # Signed in; TOTP enrolment: the QR code and the secret as text.
        fill(driver, "password", PASSWORD)
        press(driver, "Sign in")
        wait_for_path(driver, "/ui/account")
        press(driver, "Set up authenticator app")
        wait_for_path(driver, "/ui/account/totp/setup")
        assert driver.find_element(By.CSS_SELECTOR, "img.qr").get_attribute("alt")
        secret = driver.find_element(By.CSS_SELECTOR, "code.secret").text.strip()
        totp = pyotp.TOTP(secret)
        axe(driver, "totp-setup")
        fill(driver, "code", totp.now())
        press(driver, "Turn on")
        codes = [c.text for c in driver.find_elements(By.CSS_SELECTOR, "ul.codes code")]
        assert len(codes) == 10, driver.find_element(By.TAG_NAME, "body").text
        axe(driver, "recovery-codes")
        driver.find_element(By.LINK_TEXT, "I have saved them").click()
        wait_for_path(driver, "/ui/account")

        # Sign out and in again: the second step asks for a code.
        press(driver, "Sign out")
        wait_for_path(driver, "/ui/sign-in")
        sign_in(driver, address, PASSWORD)
        wait_for_path(driver, "/ui/second-factor")
        axe(driver, "second-factor")
        # The next time step's code: the enrolment spent this step's.
        fill(driver, "code", totp.at(time.time() + 30))
        press(driver, "Verify")
        wait_for_path(driver, "/ui/account")

        # A passkey, registered with the virtual authenticator.
        authenticator = VirtualAuthenticatorOptions()
        authenticator.protocol = VirtualAuthenticatorOptions.Protocol.CTAP2
        authenticator.transport = VirtualAuthenticatorOptions.Transport.INTERNAL
        authenticator.has_resident_key = True
        authenticator.has_user_verification = True
        authenticator.is_user_verified = True
        authenticator.is_user_consenting = True
        driver.add_virtual_authenticator(authenticator)
        fill(driver, "passkey-name", "Virtual key")
        press(driver, "Add a passkey")
        wait_for_path(driver, "/ui/account?notice=passkey_added")
        assert "Virtual key" in driver.page_source
        assert len(driver.get_credentials()) == 1
        axe(driver, "account")

        # Passwordless, by autofill: the sign-in page's conditional request
        # (the virtual authenticator consents at once) signs in by itself.
        press(driver, "Sign out")
        wait_for_path(driver, "/ui/account")
        assert "This browser" in driver.page_source

        # Passwordless, by the button. The autofill request is made to hang
        # (as it does while a person has not picked a passkey): the button
        # must abort it before its own request, or the browser refuses.
        hang = driver.execute_cdp_cmd(
            "Page.addScriptToEvaluateOnNewDocument",
            {"source": """
              (() => {
                const real = navigator.credentials.get.bind(navigator.credentials);
                navigator.credentials.get = (options) => {
                  if (options && options.mediation === 'conditional') {
                    sessionStorage.setItem('conditional', 'pending');
                    return new Promise((_, reject) => options.signal.addEventListener('abort',
                      () => { sessionStorage.setItem('conditional', 'aborted');
                              reject(new DOMException('aborted', 'AbortError')); }));
                  }
                  sessionStorage.setItem('modal-after', sessionStorage.getItem('conditional'));
                  return real(options);
                };
              })();
            """},
        )
        press(driver, "Sign out")
        wait_for_path(driver, "/ui/sign-in")
        WebDriverWait(driver, 10).until(
            lambda d: d.execute_script("return sessionStorage.getItem('conditional')") == "pending"
        )
        assert "webauthn" in driver.find_element(By.ID, "email").get_attribute("autocomplete")
        press(driver, "Sign in with a passkey")
        wait_for_path(driver, "/ui/account")
        assert driver.execute_script("return sessionStorage.getItem('modal-after')") == "aborted"
        driver.execute_cdp_cmd(
            "Page.removeScriptToEvaluateOnNewDocument", {"identifier": hang["identifier"]}
        )
        # Done with passkeys: without its authenticator, the sign-in page's
        # autofill waits (as for a person who does not pick one).
        driver.remove_virtual_authenticator()

        # Another browser signs in (password and a recovery code); this one
        # revokes it, and it is signed out at once.
        other = browser()
        sign_in_with_recovery_code(other, address, PASSWORD, codes[0])
        driver.refresh()
        revoke = [b for b in driver.find_elements(By.TAG_NAME, "button") if b.text == "Revoke"]
        assert len(revoke) == 1, "the other browser's session"
        page = driver.find_element(By.TAG_NAME, "html")
        revoke[0].click()
        WebDriverWait(driver, 20).until(left(page))
        wait_for_path(driver, "/ui/account?notice=sessions_revoked")
        other.get(BASE + "/ui/account")
        wait_for_path(other, "/ui/sign-in")

        # Forgotten password, reset by mail; every session ends.
        press(driver, "Sign out")
        wait_for_path(driver, "/ui/sign-in")
        driver.find_element(By.LINK_TEXT, "Forgot your password?").click()
        wait_for_path(driver, "/ui/forgot-password")
        axe(driver, "forgot-password")
        fill(driver, "email", address)
        press(driver, "Send link")
        assert driver.find_element(By.CSS_SELECTOR, "[role=status]").text
        link = mailed_link(address, 2, "reset-password")
        driver.get(link)
        axe(driver, "reset-password")
        fill(driver, "new_password", NEW_PASSWORD)
        press(driver, "Set password")
        wait_for_path(driver, "/ui/sign-in?notice=password_reset")
        sign_in_with_recovery_code(driver, address, NEW_PASSWORD, codes[1])

        # Single sign-on: the application asks; signed in, the consent page
        # names it; Allow lands the browser on the application's page.
        authorize(driver, "first")
        assert "Wiki" in driver.find_element(By.TAG_NAME, "main").text
        axe(driver, "consent")
        press(driver, "Allow")
        landed_on_the_application(driver, "first")

        # Signed out, the application asks again: the sign-in page and the
        # second step in the middle of the flow, then straight to the
        # application (the consent is remembered) — a redirect after this
        # origin's own form, which the pages' form-action must not block.
        driver.get(BASE + "/ui/account")
        press(driver, "Sign out")
        wait_for_path(driver, "/ui/sign-in")
        authorize(driver, "second")
        wait_for_path(driver, "/ui/sign-in?")
        fill(driver, "email", address)
        fill(driver, "password", NEW_PASSWORD)
        press(driver, "Sign in")
        wait_for_path(driver, "/ui/second-factor")
        driver.find_element(By.TAG_NAME, "summary").click()
        fill(driver, "recovery_code", codes[2])
        press(driver, "Verify", within="details")
        landed_on_the_application(driver, "second")
        driver.get(BASE + "/ui/account")
        wait_for_path(driver, "/ui/account")

        # The pages not on the way: step-up, a refusal.
        driver.get(BASE + "/ui/confirm")
        axe(driver, "confirm")
        # No script or rendering error on the way (the pages' one script
        # included); refusals' statuses (401, 404) are answers, not errors.
        errors = [
            e for e in driver.get_log("browser")
            if e["level"] == "SEVERE" and e["source"] != "network"
        ]
        assert not errors, errors
        driver.get(BASE + "/ui/no-such-page")
        axe(driver, "not-found")
    finally:
        driver.quit()
        if other:
            other.quit()
    print(f"browser walk: axe found no violation on {len(CHECKED)} pages: {', '.join(CHECKED)}")


if __name__ == "__main__":
    main()
