//! Message catalogues and the choice of language.
//!
//! A catalogue is a flat JSON object of message keys to text, one per
//! language (`messages/{lang}.json`, built in; a file of the same name in
//! `UI_TEMPLATES_DIR/messages/` replaces keys of the built-in one). Templates
//! read it as `t.some_key`; a key missing from a catalogue fails the render
//! (the templates run with strict undefined values) and a test keeps every
//! built-in catalogue complete.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use axum::http::HeaderMap;
use axum::http::header::ACCEPT_LANGUAGE;
use minijinja::Value;
use minijinja::value::Object;

/// The languages the pages speak, the first being the default.
pub const LANGUAGES: [&str; 2] = ["en", "de"];

const BUILT_IN: [(&str, &str); 2] = [
    ("en", include_str!("../messages/en.json")),
    ("de", include_str!("../messages/de.json")),
];

/// One language's messages: what templates see as `t`.
#[derive(Debug)]
pub struct Catalogue {
    lang: &'static str,
    messages: BTreeMap<String, String>,
}

impl Catalogue {
    pub fn lang(&self) -> &'static str {
        self.lang
    }

    /// The text of `key`; the key itself when missing (never in a complete catalogue).
    pub fn text<'a>(&'a self, key: &'a str) -> &'a str {
        self.messages.get(key).map_or(key, String::as_str)
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.messages.keys().map(String::as_str)
    }
}

impl Object for Catalogue {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.messages
            .get(key.as_str()?)
            .map(|text| Value::from(text.as_str()))
    }
}

/// Every language's catalogue.
#[derive(Debug, Clone)]
pub struct Catalogues(Arc<[Arc<Catalogue>]>);

impl Catalogues {
    /// The built-in catalogues, with the keys of `overrides/messages/{lang}.json`
    /// (when that file exists) replacing theirs.
    pub fn load(overrides: Option<&Path>) -> Result<Self, String> {
        let mut all = Vec::with_capacity(BUILT_IN.len());
        for (lang, source) in BUILT_IN {
            let mut messages: BTreeMap<String, String> = serde_json::from_str(source)
                .map_err(|e| format!("built-in catalogue {lang}: {e}"))?;
            if let Some(dir) = overrides {
                let path = dir.join("messages").join(format!("{lang}.json"));
                if path.exists() {
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                    let replaced: BTreeMap<String, String> = serde_json::from_str(&text)
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                    messages.extend(replaced);
                }
            }
            all.push(Arc::new(Catalogue { lang, messages }));
        }
        Ok(Self(all.into()))
    }

    /// The catalogue of `lang` (one of [`LANGUAGES`]), or the default's.
    pub fn get(&self, lang: &str) -> &Arc<Catalogue> {
        self.0.iter().find(|c| c.lang == lang).unwrap_or(&self.0[0])
    }

    /// The catalogue an `Accept-Language` header asks for, unless `chosen`
    /// (the language an OpenID client asked for) is one of ours.
    pub fn negotiate(&self, headers: &HeaderMap, chosen: Option<&str>) -> &Arc<Catalogue> {
        if let Some(lang) = chosen.and_then(|lang| LANGUAGES.iter().find(|l| **l == lang)) {
            return self.get(lang);
        }
        let header = headers
            .get(ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        self.get(preferred(header, &LANGUAGES).unwrap_or(LANGUAGES[0]))
    }
}

/// The first of our languages an OpenID `ui_locales` names (space-separated
/// BCP 47 tags, most preferred first; `de-CH` matches `de`).
pub fn from_ui_locales(ui_locales: &str) -> Option<&'static str> {
    ui_locales.split(' ').find_map(|tag| {
        let primary = tag.split('-').next().unwrap_or_default();
        LANGUAGES
            .iter()
            .copied()
            .find(|lang| !primary.is_empty() && lang.eq_ignore_ascii_case(primary))
    })
}

/// The first of `supported` by the weights of an `Accept-Language` value
/// (RFC 9110 §12.5.4; `de-AT` matches `de`, `*` the first supported).
pub fn preferred(header: &str, supported: &[&'static str]) -> Option<&'static str> {
    let mut best: Option<(f32, usize, &'static str)> = None;
    for (position, range) in header.split(',').enumerate() {
        let mut parts = range.split(';');
        let tag = parts.next().unwrap_or_default().trim();
        let mut weight = 1.0_f32;
        for parameter in parts {
            if let Some(q) = parameter.trim().strip_prefix("q=") {
                weight = q.trim().parse().unwrap_or(0.0);
            }
        }
        if weight <= 0.0 || tag.is_empty() {
            continue;
        }
        let primary = tag.split('-').next().unwrap_or_default();
        let language = if primary == "*" {
            supported.first().copied()
        } else {
            supported
                .iter()
                .copied()
                .find(|lang| lang.eq_ignore_ascii_case(primary))
        };
        let Some(language) = language else { continue };
        // Higher weight first; among equals, the one named first.
        let better = best.is_none_or(|(w, p, _)| weight > w || (weight == w && position < p));
        if better {
            best = Some((weight, position, language));
        }
    }
    best.map(|(_, _, language)| language)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ui_locales_are_read_in_order() {
        assert_eq!(from_ui_locales("fr-CA de-CH en"), Some("de"));
        assert_eq!(from_ui_locales("EN"), Some("en"));
        assert_eq!(from_ui_locales("fr  ja"), None);
        assert_eq!(from_ui_locales(""), None);
    }

    #[test]
    fn accept_language_is_weighed() {
        let langs = &LANGUAGES;
        assert_eq!(preferred("de-DE,de;q=0.9,en;q=0.8", langs), Some("de"));
        assert_eq!(
            preferred("fr-CH, fr;q=0.9, de;q=0.5, en;q=0.7", langs),
            Some("en")
        );
        assert_eq!(preferred("en;q=0.1, DE", langs), Some("de"));
        assert_eq!(preferred("fr", langs), None);
        assert_eq!(preferred("de;q=0, *", langs), Some("en"));
        assert_eq!(preferred("", langs), None);
        assert_eq!(preferred("de;q=nonsense", langs), None);
    }

    #[test]
    fn every_catalogue_has_every_key_and_no_other() {
        let catalogues = Catalogues::load(None).unwrap();
        let english: Vec<&str> = catalogues.get("en").keys().collect();
        for lang in LANGUAGES {
            let keys: Vec<&str> = catalogues.get(lang).keys().collect();
            let missing: Vec<&&str> = english.iter().filter(|k| !keys.contains(k)).collect();
            let extra: Vec<&&str> = keys.iter().filter(|k| !english.contains(k)).collect();
            assert!(missing.is_empty(), "{lang} lacks {missing:?}");
            assert!(extra.is_empty(), "{lang} has keys English lacks: {extra:?}");
            for key in &keys {
                assert!(
                    !catalogues.get(lang).text(key).trim().is_empty(),
                    "{lang}: {key} is empty"
                );
            }
        }
    }

    #[test]
    fn every_key_a_template_uses_is_in_the_catalogues() {
        let catalogues = Catalogues::load(None).unwrap();
        let english = catalogues.get("en");
        let mut used = 0;
        for (name, source) in crate::render::BUILT_IN_TEMPLATES {
            let mut rest: &str = source;
            while let Some(at) = rest.find("t.") {
                let preceded = rest[..at]
                    .chars()
                    .last()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.');
                rest = &rest[at + 2..];
                if preceded {
                    continue;
                }
                let key: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if key.is_empty() {
                    continue;
                }
                used += 1;
                assert!(
                    english.keys().any(|k| k == key),
                    "{name} uses t.{key}, which the catalogues lack"
                );
            }
        }
        assert!(used > 50, "the scan found only {used} keys");
    }
}
