//! The scopes the provider knows (`openid`, `profile`, `email`,
//! `offline_access`, `roles`) and sets of them.

use std::fmt;
use std::str::FromStr;

/// A scope this provider supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    OpenId,
    Profile,
    Email,
    OfflineAccess,
    Roles,
}

impl Scope {
    pub const ALL: [Self; 5] = [
        Self::OpenId,
        Self::Profile,
        Self::Email,
        Self::OfflineAccess,
        Self::Roles,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenId => "openid",
            Self::Profile => "profile",
            Self::Email => "email",
            Self::OfflineAccess => "offline_access",
            Self::Roles => "roles",
        }
    }

    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl FromStr for Scope {
    type Err = ();
    fn from_str(raw: &str) -> Result<Self, ()> {
        Self::ALL
            .into_iter()
            .find(|scope| scope.as_str() == raw)
            .ok_or(())
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of scopes, in the order of [`Scope::ALL`] when listed.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Scopes(u8);

impl Scopes {
    pub const fn none() -> Self {
        Self(0)
    }

    pub fn all() -> Self {
        Scope::ALL.into_iter().collect()
    }

    pub fn insert(&mut self, scope: Scope) {
        self.0 |= scope.bit();
    }

    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every scope of `self` is in `other`.
    pub fn is_subset(self, other: Self) -> bool {
        self.0 & !other.0 == 0
    }

    #[must_use]
    pub fn intersection(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    #[must_use]
    pub fn difference(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }

    #[must_use]
    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    /// Parses a space-separated `scope` parameter (RFC 6749 §3.3): the
    /// supported scopes it names, and whether it named any other (which a
    /// request may do: unknown scopes are ignored, as OIDC Core §3.1.2.1 allows).
    pub fn parse_lenient(raw: &str) -> (Self, bool) {
        let mut scopes = Self::none();
        let mut unknown = false;
        for token in raw.split(' ').filter(|t| !t.is_empty()) {
            match token.parse() {
                Ok(scope) => scopes.insert(scope),
                Err(()) => unknown = true,
            }
        }
        (scopes, unknown)
    }

    /// The names, for storage and for the wire.
    pub fn names(self) -> Vec<String> {
        self.iter().map(|scope| scope.as_str().to_owned()).collect()
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        let mut scopes = Self::none();
        for scope in iter {
            scopes.insert(scope);
        }
        scopes
    }
}

/// Space-separated, as the `scope` parameter and claim write it.
impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for scope in self.iter() {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(scope.as_str())?;
            first = false;
        }
        Ok(())
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scopes({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_parameters_keep_the_known_and_note_the_rest() {
        let (scopes, unknown) = Scopes::parse_lenient("openid  email custom");
        assert_eq!(scopes.to_string(), "openid email");
        assert!(unknown);
        assert!(scopes.is_subset(Scopes::all()));
        assert!(!Scopes::all().is_subset(scopes));
        assert_eq!(Scopes::parse_lenient("").0, Scopes::none());
    }
}
