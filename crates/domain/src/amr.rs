//! How a session's user proved who they are: RFC 8176 authentication method
//! references, carried by access tokens as the `amr` claim.

use std::fmt;

/// A set of authentication methods, small and `Copy` (it rides on every cached
/// session).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Amr(u8);

impl Amr {
    /// A password (RFC 8176 `pwd`).
    pub const PWD: Self = Self(1);
    /// A one-time password: a TOTP code or a recovery code (`otp`).
    pub const OTP: Self = Self(1 << 1);
    /// A hardware-bound key: a device-bound passkey (`hwk`).
    pub const HWK: Self = Self(1 << 2);
    /// A software key: a synced passkey (`swk`).
    pub const SWK: Self = Self(1 << 3);
    /// An external identity provider (`fed`: not in RFC 8176; the value
    /// Microsoft's identity platform uses for federated sign-in).
    pub const FED: Self = Self(1 << 4);
    /// More than one factor (`mfa`).
    pub const MFA: Self = Self(1 << 5);
    /// User verification by the authenticator: PIN or biometrics (`user`).
    pub const USER: Self = Self(1 << 6);

    const NAMES: [(Self, &'static str); 7] = [
        (Self::PWD, "pwd"),
        (Self::OTP, "otp"),
        (Self::HWK, "hwk"),
        (Self::SWK, "swk"),
        (Self::FED, "fed"),
        (Self::MFA, "mfa"),
        (Self::USER, "user"),
    ];

    pub const fn with(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The RFC 8176 names, in a fixed order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMES
            .into_iter()
            .filter(move |(method, _)| self.contains(*method))
            .map(|(_, name)| name)
    }

    /// From stored names; names it does not know are ignored.
    pub fn from_names<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> Self {
        names.into_iter().fold(Self::default(), |amr, name| {
            Self::NAMES
                .iter()
                .find(|(_, known)| *known == name.as_ref())
                .map_or(amr, |(method, _)| amr.with(*method))
        })
    }

    /// The compact form caches store.
    pub const fn bits(self) -> u8 {
        self.0
    }

    pub const fn from_bits(bits: u8) -> Self {
        Self(bits & 0x7f)
    }
}

impl fmt::Debug for Amr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

/// The second factors a user can complete a sign-in with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MfaMethods {
    /// A confirmed TOTP authenticator.
    pub totp: bool,
    /// At least one unused recovery code.
    pub recovery_code: bool,
    /// A registered passkey (offered when a second factor is required; a
    /// passkey alone does not make one required).
    pub webauthn: bool,
}

impl MfaMethods {
    /// Whether a sign-in must pass a second factor.
    pub const fn any(self) -> bool {
        self.totp || self.recovery_code
    }

    /// The names a client is told (`mfa_required`'s `methods`).
    pub fn names(self) -> Vec<&'static str> {
        [
            (self.totp, "totp"),
            (self.recovery_code, "recovery_code"),
            (self.webauthn, "webauthn"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_ignored() {
        let amr = Amr::PWD.with(Amr::OTP).with(Amr::MFA);
        let names: Vec<_> = amr.names().collect();
        assert_eq!(names, ["pwd", "otp", "mfa"]);
        assert_eq!(Amr::from_names(&names), amr);
        assert_eq!(Amr::from_names(["fed", "retina"]), Amr::FED);
        assert_eq!(Amr::from_bits(amr.bits()), amr);
        assert!(Amr::default().is_empty());
    }
}
