//! Templates (minijinja, built in and overridable from `UI_TEMPLATES_DIR`)
//! and the static files they link to (served under content-hashed names, so
//! a changed file is a new URL and every file can be cached for a year).

use std::path::Path;
use std::sync::Arc;

use minijinja::{Environment, UndefinedBehavior, Value};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::i18n::Catalogue;

/// The built-in templates, by name.
pub const BUILT_IN_TEMPLATES: [(&str, &str); 17] = [
    ("base.html", include_str!("../templates/base.html")),
    ("macros.html", include_str!("../templates/macros.html")),
    ("sign_in.html", include_str!("../templates/sign_in.html")),
    ("sign_up.html", include_str!("../templates/sign_up.html")),
    (
        "second_factor.html",
        include_str!("../templates/second_factor.html"),
    ),
    ("confirm.html", include_str!("../templates/confirm.html")),
    (
        "forgot_password.html",
        include_str!("../templates/forgot_password.html"),
    ),
    (
        "reset_password.html",
        include_str!("../templates/reset_password.html"),
    ),
    (
        "verify_email.html",
        include_str!("../templates/verify_email.html"),
    ),
    ("account.html", include_str!("../templates/account.html")),
    ("message.html", include_str!("../templates/message.html")),
    (
        "totp_setup.html",
        include_str!("../templates/totp_setup.html"),
    ),
    (
        "recovery_codes.html",
        include_str!("../templates/recovery_codes.html"),
    ),
    (
        "remove_method.html",
        include_str!("../templates/remove_method.html"),
    ),
    ("consent.html", include_str!("../templates/consent.html")),
    ("continue.html", include_str!("../templates/continue.html")),
    ("logout.html", include_str!("../templates/logout.html")),
];

const STYLESHEET: &str = include_str!("../static/ui.css");
const PASSKEYS_SCRIPT: &str = include_str!("../static/passkeys.js");

/// `UI_PRODUCT_NAME`, `UI_LOGO_URL`, `UI_PRIMARY_COLOR`.
#[derive(Debug, Clone, Serialize)]
pub struct Brand {
    pub product_name: String,
    /// An absolute URL or a path on this origin.
    pub logo_url: Option<String>,
    /// `#rgb` or `#rrggbb`.
    pub primary_color: String,
}

impl Default for Brand {
    fn default() -> Self {
        Self {
            product_name: "CodeZest".to_owned(),
            logo_url: None,
            primary_color: "#1f5fbf".to_owned(),
        }
    }
}

/// One static file.
#[derive(Debug)]
pub struct Asset {
    /// The hashed name it is served under.
    pub name: String,
    pub content_type: &'static str,
    pub body: axum::body::Bytes,
}

impl Asset {
    fn new(stem: &str, extension: &str, content_type: &'static str, body: Vec<u8>) -> Self {
        let digest = Sha256::digest(&body);
        let hash: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
        Self {
            name: format!("{stem}.{hash}.{extension}"),
            content_type,
            body: body.into(),
        }
    }
}

/// The static files, and their URLs for the templates.
#[derive(Debug)]
pub struct Assets {
    pub files: Vec<Asset>,
    urls: AssetUrls,
}

#[derive(Debug, Clone, Serialize)]
struct AssetUrls {
    stylesheet: String,
    theme: String,
    passkeys: String,
}

impl Assets {
    fn load(brand: &Brand, overrides: Option<&Path>) -> Result<Self, String> {
        let stylesheet = match overrides.map(|dir| dir.join("static").join("ui.css")) {
            Some(path) if path.exists() => {
                std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?
            }
            _ => STYLESHEET.as_bytes().to_vec(),
        };
        // The brand's colour as a stylesheet of its own: the pages' policy
        // allows no inline style.
        let theme = format!(":root {{ --primary: {}; }}\n", brand.primary_color);
        let files = vec![
            Asset::new("ui", "css", "text/css; charset=utf-8", stylesheet),
            Asset::new(
                "theme",
                "css",
                "text/css; charset=utf-8",
                theme.into_bytes(),
            ),
            Asset::new(
                "passkeys",
                "js",
                "text/javascript; charset=utf-8",
                PASSKEYS_SCRIPT.as_bytes().to_vec(),
            ),
        ];
        let url = |i: usize| format!("{}/static/{}", api_types::paths::UI, files[i].name);
        let urls = AssetUrls {
            stylesheet: url(0),
            theme: url(1),
            passkeys: url(2),
        };
        Ok(Self { files, urls })
    }

    pub fn get(&self, name: &str) -> Option<&Asset> {
        self.files.iter().find(|asset| asset.name == name)
    }
}

/// The templates, the brand and the static files.
pub struct Templates {
    env: Environment<'static>,
    brand: Value,
    pub assets: Assets,
}

impl Templates {
    /// The built-in templates, each replaced by a file of the same name in
    /// `overrides` when there is one.
    pub fn load(brand: &Brand, overrides: Option<&Path>) -> Result<Self, String> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        for (name, source) in BUILT_IN_TEMPLATES {
            let source = match overrides.map(|dir| dir.join(name)) {
                Some(path) if path.exists() => std::fs::read_to_string(&path)
                    .map_err(|e| format!("{}: {e}", path.display()))?,
                _ => source.to_owned(),
            };
            env.add_template_owned(name, source)
                .map_err(|e| format!("template {name}: {e}"))?;
        }
        let assets = Assets::load(brand, overrides)?;
        let brand = Value::from_serialize(brand);
        Ok(Self { env, brand, assets })
    }

    /// Renders `name` with `page` (the page's own values), in the language of
    /// `t`, with `csrf(action)` giving each form its anti-forgery token.
    pub fn render(
        &self,
        name: &str,
        t: &Arc<Catalogue>,
        csrf: Value,
        page: Value,
    ) -> Result<String, minijinja::Error> {
        let template = self.env.get_template(name)?;
        let context = minijinja::context! {
            lang => t.lang(),
            t => Value::from_dyn_object(Arc::clone(t)),
            brand => self.brand.clone(),
            assets => Value::from_serialize(&self.assets.urls),
            csrf => csrf,
            ..page
        };
        template.render(context)
    }
}
