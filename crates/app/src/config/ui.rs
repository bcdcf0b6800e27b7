//! `UI_ENABLED`, `UI_TEMPLATES_DIR`, `UI_PRODUCT_NAME`, `UI_LOGO_URL`,
//! `UI_PRIMARY_COLOR`: the hosted pages.

use std::path::PathBuf;

use super::env::{ConfigError, Env, Result};

#[derive(Debug, Clone)]
pub struct UiConfig {
    /// `UI_ENABLED` (default on): serve the pages under `/ui`.
    pub enabled: bool,
    pub templates_dir: Option<PathBuf>,
    pub brand: ui::Brand,
}

impl UiConfig {
    pub fn from_env(env: &Env<'_>) -> Result<Self> {
        let defaults = ui::Brand::default();
        let logo_url = match env.get("UI_LOGO_URL") {
            None => None,
            // A path on this origin, or an absolute http(s) URL.
            Some(path) if path.starts_with('/') && !path.starts_with("//") => Some(path),
            Some(raw) => Some(super::env::http_url("UI_LOGO_URL", &raw)?),
        };
        let primary_color = env
            .get("UI_PRIMARY_COLOR")
            .unwrap_or(defaults.primary_color);
        if !is_hex_colour(&primary_color) {
            return Err(ConfigError::new(
                "UI_PRIMARY_COLOR",
                format!("{primary_color:?} is not a colour like #1f5fbf or #15b"),
            ));
        }
        let product_name = env.get("UI_PRODUCT_NAME").unwrap_or(defaults.product_name);
        if product_name.trim().is_empty() || product_name.chars().count() > 60 {
            return Err(ConfigError::new(
                "UI_PRODUCT_NAME",
                "must be 1 to 60 characters",
            ));
        }
        let templates_dir = env.get("UI_TEMPLATES_DIR").map(PathBuf::from);
        if let Some(dir) = &templates_dir
            && !dir.is_dir()
        {
            return Err(ConfigError::new(
                "UI_TEMPLATES_DIR",
                format!("{} is not a directory", dir.display()),
            ));
        }
        Ok(Self {
            enabled: env.flag("UI_ENABLED", true)?,
            templates_dir,
            brand: ui::Brand {
                product_name,
                logo_url,
                primary_color,
            },
        })
    }
}

/// `#rgb` or `#rrggbb`.
fn is_hex_colour(raw: &str) -> bool {
    raw.strip_prefix('#')
        .is_some_and(|hex| matches!(hex.len(), 3 | 6) && hex.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn colours() {
        for good in ["#fff", "#1f5fbf", "#ABCDEF"] {
            assert!(super::is_hex_colour(good), "{good}");
        }
        for bad in ["fff", "#ffff", "#12345g", "red", "#1f5fbf;}", ""] {
            assert!(!super::is_hex_colour(bad), "{bad}");
        }
    }
}
