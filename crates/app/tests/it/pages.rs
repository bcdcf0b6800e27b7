//! A browser with JavaScript off, for the tests of the hosted pages: a
//! cookie jar kept by hand, `Origin` on every POST, forms submitted with
//! their hidden fields, redirects followed one by one.

use std::collections::BTreeMap;

use api_types::paths;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};

use crate::helpers::{PASSWORD, TestApp};

pub(crate) const SESSION_COOKIE: &str = "__Host-cz_session";

/// A browser with JavaScript off: a cookie jar, `Origin` on every POST.
pub(crate) struct Browser<'a> {
    pub(crate) app: &'a TestApp,
    pub(crate) cookies: BTreeMap<String, String>,
    pub(crate) language: &'static str,
}

/// A page as it was answered.
pub(crate) struct Page {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) html: String,
}

impl Page {
    /// The hidden fields (the anti-forgery token among them) of the form
    /// posting to `action`, as a browser would send them.
    pub(crate) fn hidden_fields(&self, action: &str) -> Vec<(String, String)> {
        let html = unescape(&self.html);
        let at = html
            .find(&format!("action=\"{action}\""))
            .unwrap_or_else(|| panic!("no form posting to {action} in {html}"));
        let form = &html[at..at + html[at..].find("</form>").unwrap()];
        form.split("<input type=\"hidden\" ")
            .skip(1)
            .map(|input| {
                let attribute = |name: &str| {
                    let start = input.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
                    input[start..start + input[start..].find('"').unwrap()].to_owned()
                };
                (attribute("name"), attribute("value"))
            })
            .collect()
    }

    /// The anti-forgery token of the form posting to `action`.
    pub(crate) fn token(&self, action: &str) -> String {
        self.hidden_fields(action)
            .into_iter()
            .find(|(name, _)| name == "csrf_token")
            .expect("a csrf_token field")
            .1
    }

    pub(crate) fn location(&self) -> &str {
        self.headers[LOCATION].to_str().unwrap()
    }

    pub(crate) fn text(&self) -> String {
        unescape(&self.html)
    }
}

/// What minijinja escapes in HTML, back.
pub(crate) fn unescape(html: &str) -> String {
    html.replace("&#x2f;", "/")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

impl<'a> Browser<'a> {
    pub(crate) fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            cookies: BTreeMap::new(),
            language: "en",
        }
    }

    pub(crate) fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub(crate) fn keep_cookies(&mut self, headers: &HeaderMap) {
        for set in headers.get_all(SET_COOKIE) {
            let set = set.to_str().unwrap();
            let pair = set.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || set.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    pub(crate) async fn answer(&mut self, response: reqwest::Response) -> Page {
        let status = response.status();
        let headers = response.headers().clone();
        self.keep_cookies(&headers);
        let html = response.text().await.unwrap();
        Page {
            status,
            headers,
            html,
        }
    }

    pub(crate) async fn get(&mut self, path: &str) -> Page {
        let response = self
            .app
            .client
            .get(self.app.url(path))
            .header("cookie", self.cookie_header())
            .header("accept-language", self.language)
            .send()
            .await
            .unwrap();
        self.answer(response).await
    }

    /// Posts `fields` with the token `page` rendered for `action`, from this origin.
    pub(crate) async fn submit(
        &mut self,
        page: &Page,
        action: &str,
        fields: &[(&str, &str)],
    ) -> Page {
        let hidden = page.hidden_fields(action);
        let mut form: Vec<(&str, &str)> = hidden
            .iter()
            .filter(|(name, _)| !fields.iter().any(|(field, _)| field == name))
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        form.extend_from_slice(fields);
        self.post_raw(action, &form, Some(&self.app.address.clone()))
            .await
    }

    pub(crate) async fn post_raw(
        &mut self,
        action: &str,
        form: &[(&str, &str)],
        origin: Option<&str>,
    ) -> Page {
        let mut request = self
            .app
            .client
            .post(self.app.url(action))
            .header("cookie", self.cookie_header())
            .header("accept-language", self.language)
            .form(form);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        let response = request.send().await.unwrap();
        self.answer(response).await
    }

    /// Follows a 303 with a GET.
    pub(crate) async fn follow(&mut self, page: &Page) -> Page {
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
        let location = page.location().to_owned();
        self.get(&location).await
    }

    /// Signs up through the page; lands on the account page.
    pub(crate) async fn sign_up(&mut self, email: &str) -> Page {
        let form = self.get(paths::UI_SIGN_UP).await;
        let done = self
            .submit(
                &form,
                paths::UI_SIGN_UP,
                &[
                    ("name", "Ada Lovelace"),
                    ("email", email),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
        self.follow(&done).await
    }

    pub(crate) async fn sign_in(
        &mut self,
        email: &str,
        password: &str,
        return_to: Option<&str>,
    ) -> Page {
        let path = match return_to {
            Some(to) => format!(
                "{}?return_to={}",
                paths::UI_SIGN_IN,
                url::form_urlencoded::byte_serialize(to.as_bytes()).collect::<String>()
            ),
            None => paths::UI_SIGN_IN.to_owned(),
        };
        let form = self.get(&path).await;
        let action = unescape(&form.html)
            .split("<form method=\"post\" action=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("the sign-in form")
            .to_owned();
        self.submit(&form, &action, &[("email", email), ("password", password)])
            .await
    }
}
