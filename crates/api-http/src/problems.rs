//! Problem responses declared once per family, for the OpenAPI document: a
//! handler lists the families it can answer with (`responses(.., Bearer,
//! Limited)`) and writes its own tuples only for what is its alone. Every
//! 4xx/5xx response without content gets the `Problem` schema as
//! `application/problem+json` in `document_common_failures` (lib.rs), so no
//! handler repeats it. When two families a handler lists name the same
//! status, the later one's description stands (it is the more specific).

use std::collections::BTreeMap;

use utoipa::IntoResponses;
use utoipa::openapi::{RefOr, ResponseBuilder, response::Response};

/// `(status, description)` pairs as responses (their `Problem` content is
/// added with the rest).
fn problems(list: &[(&str, &str)]) -> BTreeMap<String, RefOr<Response>> {
    list.iter()
        .map(|(status, description)| {
            let response = ResponseBuilder::new().description(*description).build();
            ((*status).to_owned(), RefOr::T(response))
        })
        .collect()
}

/// Declares a family: a unit type whose responses are the listed problems.
macro_rules! family {
    ($(#[$doc:meta])* $name:ident { $($status:literal => $description:literal),+ $(,)? }) => {
        $(#[$doc])*
        pub(crate) struct $name;

        impl IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                problems(&[$(($status, $description)),+])
            }
        }
    };
}

family! {
    /// Routes that need a bearer token.
    Bearer {
        "401" => "`unauthorized`: a missing, malformed, invalid or expired token, or an ended session (with `WWW-Authenticate`)",
    }
}

family! {
    /// The admin API: a bearer token of a user with the `admin` role.
    AdminOnly {
        "401" => "`unauthorized`: a missing, malformed, invalid or expired token, or an ended session (with `WWW-Authenticate`)",
        "403" => "`forbidden`: the user does not have the `admin` role",
    }
}

family! {
    /// Routes counted against the client address's limit.
    Limited {
        "429" => "`rate_limited`: too many requests from this address (or for this account); see `Retry-After` and the `RateLimit-*` headers",
    }
}

family! {
    /// Routes that also lock an account for a client after failures.
    Locked {
        "429" => "`rate_limited`: too many requests; or `account_locked`: too many failed sign-ins or wrong codes for this account from this client; see `Retry-After`",
    }
}

family! {
    /// Changes that need a recent sign-in (`STEP_UP_MAX_AGE`).
    StepUp {
        "403" => "`reauthentication_required`: the sign-in is older than `STEP_UP_MAX_AGE`; sign in again and retry",
    }
}

family! {
    /// A body or query that fails validation.
    Invalid {
        "422" => "`validation_failed`: a missing or invalid field, each named in `errors`",
    }
}

family! {
    /// A display name that fails validation.
    Name {
        "422" => "`validation_failed`: a missing, blank or invalid `name` (1–100 characters, no control characters)",
    }
}

family! {
    /// An address that fails validation.
    NotAnEmail {
        "422" => "`validation_failed`: not an email address (or, for a change, the current one)",
    }
}

family! {
    /// A new password that fails the policy.
    NewPassword {
        "422" => "`validation_failed`: the new password fails the policy (`password_too_common` names a guessable one); `same_password`: it is the current one",
    }
}

family! {
    /// A change that checks the current password.
    CurrentPassword {
        "401" => "`invalid_credentials`: a wrong current password; or `unauthorized`: a missing or invalid token",
    }
}

family! {
    /// An address someone already holds.
    EmailTaken {
        "409" => "`email_taken`: the address has an account (or was registered meanwhile)",
    }
}

family! {
    /// A single-use mailed link.
    MailedLink {
        "400" => "`invalid_token`: an unknown, used or expired link token; or `malformed_json`",
    }
}

family! {
    /// A TOTP or recovery code in the body.
    Code {
        "401" => "`invalid_code`: a wrong code; or `unauthorized`: a missing or invalid token",
        "422" => "`validation_failed`: a missing or oversized code",
    }
}

family! {
    /// The second step of a sign-in (`mfa_token`).
    MfaToken {
        "401" => "`invalid_code`: a wrong code (the `mfa_token` survives four of them); `invalid_mfa_token`: an unknown, expired or completed `mfa_token`",
    }
}

family! {
    /// TOTP must be on.
    TotpOff {
        "409" => "`mfa_not_enabled`: TOTP is not on (or no set-up was started)",
    }
}

family! {
    /// TOTP must be off.
    TotpOn {
        "409" => "`mfa_already_enabled`: TOTP is on already; `mfa_not_enabled`: no set-up was started",
    }
}

family! {
    /// Passkeys need a relying party.
    PasskeysOff {
        "503" => "`passkeys_unavailable`: WebAuthn is not configured (`WEBAUTHN_RP_ID`, `WEBAUTHN_RP_ORIGIN`)",
    }
}

family! {
    /// A WebAuthn ceremony's second half.
    Ceremony {
        "400" => "`invalid_challenge`: an unknown, expired or used `challenge_id`; `passkey_rejected`: an answer that fails the ceremony (origin, RP id, challenge, signature, user verification)",
    }
}

family! {
    /// One of the signed-in user's passkeys, by id.
    OwnPasskey {
        "404" => "`not_found`: not one of your passkeys",
    }
}

family! {
    /// A `{provider}` path segment.
    Provider {
        "404" => "`unknown_provider`: an unknown or unconfigured provider",
        "502" => "`provider_unavailable`: the provider did not answer, or answered nonsense",
    }
}

family! {
    /// A user named by id in the admin API.
    NoSuchUser {
        "404" => "`not_found`: no such user",
    }
}

family! {
    /// What an admin may not do to their own account.
    SelfAdministration {
        "409" => "`self_administration`: an admin cannot delete or disable their own account, nor take `admin` from themself",
    }
}
