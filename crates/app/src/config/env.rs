//! The environment reader every section uses: one clear line per bad value,
//! naming the variable.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use domain::HttpUrl;
use secrecy::SecretString;

/// A configuration error: which variable, and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(variable: &'static str, message: impl fmt::Display) -> Self {
        Self {
            variable,
            message: message.to_string(),
        }
    }
}

pub type Result<T, E = ConfigError> = std::result::Result<T, E>;

/// Reads variables through a lookup (the process environment, or a map in tests).
/// Values are trimmed; an empty value counts as unset.
pub struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Env<'a> {
    pub fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self { lookup }
    }

    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    }

    /// A value parsed by `FromStr`; `what` completes "… is not {what}".
    pub fn parse<T: FromStr>(&self, name: &'static str, default: &str, what: &str) -> Result<T> {
        let raw = self.get(name).unwrap_or_else(|| default.to_owned());
        raw.parse()
            .map_err(|_| ConfigError::new(name, format!("{raw:?} is not {what}")))
    }

    /// A whole number of seconds, at least `min`.
    pub fn seconds(&self, name: &'static str, default: u64, min: u64) -> Result<Duration> {
        let secs: u64 = self.parse(name, &default.to_string(), "a number of seconds")?;
        if secs < min {
            return Err(ConfigError::new(
                name,
                format!("must be at least {min} seconds"),
            ));
        }
        Ok(Duration::from_secs(secs))
    }

    /// `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`).
    pub fn flag(&self, name: &'static str, default: bool) -> Result<bool> {
        let Some(raw) = self.get(name) else {
            return Ok(default);
        };
        match raw.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(ConfigError::new(
                name,
                format!("{raw:?} is not true or false"),
            )),
        }
    }

    /// One of a fixed set of words (case-insensitive).
    pub fn choice<T: Copy>(
        &self,
        name: &'static str,
        default: &str,
        choices: &[(&str, T)],
    ) -> Result<T> {
        let raw = self.get(name).unwrap_or_else(|| default.to_owned());
        choices
            .iter()
            .find(|(word, _)| word.eq_ignore_ascii_case(&raw))
            .map(|(_, value)| *value)
            .ok_or_else(|| {
                let words: Vec<&str> = choices.iter().map(|(word, _)| *word).collect();
                ConfigError::new(name, format!("{raw:?} is not one of {}", words.join(", ")))
            })
    }

    /// An http(s) URL, `default` when unset; returned without a trailing slash.
    pub fn http_url(&self, name: &'static str, default: &str) -> Result<String> {
        http_url(name, &self.get(name).unwrap_or_else(|| default.to_owned()))
    }

    /// An http(s) URL, parsed once, `default` when unset.
    pub fn base_url(&self, name: &'static str, default: &str) -> Result<HttpUrl> {
        parse_http_url(name, &self.get(name).unwrap_or_else(|| default.to_owned()))
    }

    /// An optional http(s) URL; returned without a trailing slash.
    pub fn optional_http_url(&self, name: &'static str) -> Result<Option<String>> {
        self.get(name).map(|raw| http_url(name, &raw)).transpose()
    }

    /// A comma-separated list; empty items are skipped.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.get(name)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// A secret: wrapped at once, so it never reaches `Debug` or a log.
    pub fn secret(&self, name: &str) -> Option<SecretString> {
        self.get(name).map(SecretString::from)
    }

    /// The contents of the file a variable names (keys): a secret too.
    pub fn file(&self, name: &'static str, path: &str) -> Result<SecretString> {
        std::fs::read_to_string(path)
            .map(SecretString::from)
            .map_err(|e| ConfigError::new(name, format!("cannot read {path}: {e}")))
    }
}

/// Checks that `raw` is an absolute http(s) URL with a host (and no
/// credentials); trims a trailing slash.
pub fn http_url(name: &'static str, raw: &str) -> Result<String> {
    parse_http_url(name, raw)?;
    Ok(raw.trim_end_matches('/').to_owned())
}

/// [`http_url`], kept parsed.
pub fn parse_http_url(name: &'static str, raw: &str) -> Result<HttpUrl> {
    HttpUrl::parse(raw).ok_or_else(|| {
        ConfigError::new(
            name,
            "must be an http:// or https:// URL with a host and no user name or password",
        )
    })
}
