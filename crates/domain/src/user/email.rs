//! `Email`: one mailbox, one account, whatever form it is typed in.

use std::fmt;

use crate::validation::FieldError;

/// An email address, trimmed and lower-cased, so that one mailbox is one account
/// whatever letter case it is typed in.
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl TryFrom<String> for Email {
    type Error = FieldError;
    fn try_from(raw: String) -> Result<Self, FieldError> {
        Self::parse(&raw)
    }
}

impl From<Email> for String {
    fn from(email: Email) -> Self {
        email.0
    }
}

impl Email {
    pub const MAX_LEN: usize = 254;

    /// A typed address as rate limits and lockouts key it, whether or not it
    /// parses: normalised as [`Email::parse`] does where it parses, else
    /// trimmed and lower-cased; at most `MAX_LEN` characters.
    pub fn key_of(raw: &str) -> String {
        match Self::parse(raw) {
            Ok(email) => email.0,
            Err(_) => raw
                .trim()
                .to_lowercase()
                .chars()
                .take(Self::MAX_LEN)
                .collect(),
        }
    }

    /// Parses and normalises an address, so that one mailbox is one account:
    /// NFKC and lower case (fullwidth `ａｄａ` is `ada`), the domain by UTS #46
    /// (IDNA: `EXÄMPLE.com`, `exämple.com` and `xn--exmple-cua.com` are one
    /// domain, kept in its Unicode form). Refused: invisible characters
    /// (zero-width, bidi controls, soft hyphens), a local part or domain label
    /// mixing Latin, Greek and Cyrillic letters (`аda` with a Cyrillic `а`),
    /// and IP-literal domains.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        use unicode_normalization::UnicodeNormalization as _;
        let error = |message: &str| FieldError::new("email", message);
        let invalid = || error("must be an email address like name@example.com");
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(error("must not be empty"));
        }
        // 254 as sent (what the API document says) and 254 bytes as stored.
        if raw.chars().count() > Self::MAX_LEN {
            return Err(error("must be at most 254 characters"));
        }
        if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(error("must not contain spaces or control characters"));
        }
        if trimmed.chars().any(is_invisible) {
            return Err(error("must not contain invisible characters"));
        }
        let email: String = trimmed.nfkc().collect::<String>().to_lowercase();
        let Some((local, domain)) = email.rsplit_once('@') else {
            return Err(invalid());
        };
        if local.is_empty() || local.len() > 64 || local.contains('@') {
            return Err(invalid());
        }
        if mixes_scripts(local) {
            return Err(error("must not mix Latin, Greek and Cyrillic letters"));
        }
        let ascii = idna::domain_to_ascii(domain).map_err(|_| invalid())?;
        let labels_ok = ascii.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
        // An all-digit top-level label is an IP literal (`1.2.3.4`), not a domain.
        let tld_ok = ascii
            .rsplit('.')
            .next()
            .is_some_and(|tld| !tld.chars().all(|c| c.is_ascii_digit()));
        if !ascii.contains('.') || !labels_ok || !tld_ok {
            return Err(invalid());
        }
        let (domain, unicode_ok) = idna::domain_to_unicode(&ascii);
        if unicode_ok.is_err() || domain.split('.').any(mixes_scripts) {
            return Err(invalid());
        }
        let email = format!("{local}@{domain}");
        if email.len() > Self::MAX_LEN {
            return Err(error("must be at most 254 characters"));
        }
        Ok(Self(email))
    }

    /// An address read back from storage (or the cache), which judged it
    /// when it was written: not re-judged by today's rules, so an account
    /// made under older ones stays readable.
    pub fn from_stored(stored: &str) -> Self {
        Self(stored.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Characters that render as nothing (Unicode's default-ignorable code
/// points: zero-width spaces and joiners, bidi controls, soft hyphens,
/// variation selectors, tags): two addresses differing only in them look the
/// same.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// Whether `part` has letters of more than one of Latin, Greek and Cyrillic:
/// the scripts whose letters pass for one another.
fn mixes_scripts(part: &str) -> bool {
    let script = |c: char| match c {
        'a'..='z' | 'A'..='Z' | '\u{00C0}'..='\u{024F}' | '\u{1E00}'..='\u{1EFF}' => Some(0),
        '\u{0370}'..='\u{03FF}' | '\u{1F00}'..='\u{1FFF}' => Some(1),
        '\u{0400}'..='\u{052F}'
        | '\u{1C80}'..='\u{1C8F}'
        | '\u{2DE0}'..='\u{2DFF}'
        | '\u{A640}'..='\u{A69F}' => Some(2),
        _ => None,
    };
    let mut seen = part
        .chars()
        .filter(|c| c.is_alphabetic())
        .filter_map(script);
    seen.next()
        .is_some_and(|first| seen.any(|other| other != first))
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.0)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
