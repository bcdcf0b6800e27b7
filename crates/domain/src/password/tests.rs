use super::strength::{JUDGED_CHARS, MAX_L33T_COMBINATIONS, is_l33t, l33t_combinations};
use super::*;
use proptest::prelude::*;

fn cheap() -> PasswordHasher {
    PasswordHasher::with_params(256, 1, 1, 2)
}

#[tokio::test]
async fn hash_then_verify() {
    let hasher = cheap();
    let password = Password::presented("correct horse battery".into()).unwrap();
    let hash = hasher.hash(&password).await.unwrap();
    assert!(hash.expose_phc().starts_with("$argon2id$"));
    assert!(hasher.verify(&password, Some(&hash)).await);
    let wrong = Password::presented("correct horse battery!".into()).unwrap();
    assert!(!hasher.verify(&wrong, Some(&hash)).await);
    // Unknown account: checks against the dummy and says no.
    assert!(!hasher.verify(&password, None).await);
}

#[tokio::test]
async fn long_unicode_passwords_are_not_truncated() {
    let hasher = cheap();
    let base = "ü".repeat(127);
    let a = Password::presented(format!("{base}a")).unwrap();
    let b = Password::presented(format!("{base}b")).unwrap();
    let hash = hasher.hash(&a).await.unwrap();
    assert!(!hasher.verify(&b, Some(&hash)).await);
}

#[tokio::test]
async fn compatible_with_the_reference_implementation() {
    use argon2::{PasswordHasher as _, PasswordVerifier as _};
    let hasher = cheap();
    let password = Password::presented("interoperable!".into()).unwrap();
    let ours = hasher.hash(&password).await.unwrap();
    let reference = Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(256, 1, 1, None).unwrap(),
    );
    let parsed = PhcString::new(ours.expose_phc()).unwrap();
    assert!(
        reference
            .verify_password(b"interoperable!", &parsed)
            .is_ok()
    );
    // A hash made elsewhere, with other parameters, verifies here too.
    let other = Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(512, 2, 1, None).unwrap(),
    )
    .hash_password(b"interoperable!", &SaltString::generate(&mut OsRng))
    .unwrap()
    .to_string();
    assert!(
        hasher
            .verify(&password, Some(&PasswordHash::from_phc(other.clone())))
            .await
    );
    let wrong = Password::presented("interoperable?".into()).unwrap();
    assert!(
        !hasher
            .verify(&wrong, Some(&PasswordHash::from_phc(other)))
            .await
    );
    // Garbage in storage is a failed check, not a panic.
    assert!(
        !hasher
            .verify(&password, Some(&PasswordHash::from_phc("garbage".into())))
            .await
    );
}

#[test]
fn owasp_parameters() {
    let hasher = PasswordHasher::owasp();
    let debug = format!("{hasher:?}");
    assert!(debug.contains("m_cost: 19456") && debug.contains("t_cost: 2"));
}

#[test]
fn debug_never_shows_secrets() {
    let password = Password::presented("hunter2hunter2".into()).unwrap();
    assert!(!format!("{password:?}").contains("hunter2"));
    let hash = PasswordHash::from_phc("$argon2id$v=19$m=1,t=1,p=1$abc$def".into());
    assert!(!format!("{hash:?}").contains("argon2id"));
}

fn refusal(raw: &str, related: &[&str]) -> Option<FieldError> {
    Password::parse(raw.into(), "new_password")
        .and_then(|new| new.judge(related))
        .err()
}

#[test]
fn common_and_patterned_passwords_are_refused_with_advice() {
    for weak in [
        "password123",
        "Passw0rd!",
        "qwertyuiop",
        "aaaaaaaaaaaa",
        "12345678",
        "iloveyou1",
        "abcdefgh",
    ] {
        let error = refusal(weak, &[]).unwrap_or_else(|| panic!("{weak} passed"));
        assert_eq!(error.code, Some("password_too_common"), "{weak}");
        assert_eq!(error.field, "new_password");
        assert!(
            error.message.starts_with("is too easy to guess"),
            "{}",
            error.message
        );
        assert!(
            !error.message.contains(weak),
            "the message repeats the password"
        );
    }
    assert!(
        refusal("password123", &[])
            .unwrap()
            .message
            .contains("very common password")
    );
}

#[test]
fn passphrases_and_random_strings_pass() {
    for strong in [
        "correct horse battery staple",
        "a completely different passphrase",
        "hunter2 hunter2",
        "aB3$xY7!kq",
        "pässwörd-🔐-密码-",
    ] {
        assert_eq!(refusal(strong, &[]), None, "{strong}");
    }
}

#[test]
fn related_words_weaken_a_password() {
    let own = "zephyrine.k";
    assert_eq!(refusal(own, &[]), None);
    let error = refusal(own, &["zephyrine@example.com", "Zephyrine Kowalski"]).unwrap();
    assert_eq!(error.code, Some("password_too_common"));
}

#[test]
fn length_is_checked_before_strength() {
    let short = refusal("aaa", &[]).unwrap();
    assert_eq!(
        (short.message.as_str(), short.code),
        ("must be at least 8 characters", None)
    );
    let long = refusal(&"x".repeat(129), &[]).unwrap();
    assert_eq!(long.message, "must be at most 128 characters");
}

/// The probe's CPU sink and its relatives: inputs dense in l33t symbols,
/// up to the longest allowed. What zxcvbn is given stays within both
/// bounds (and the raw inputs are far beyond them); the judgement itself
/// still works on them.
#[test]
fn adversarial_inputs_are_judged_within_the_bounds() {
    let every_symbol = "4@8({[<3691!|70$5+%2";
    let inputs = [
        every_symbol.chars().cycle().take(128).collect::<String>(),
        "1|7!".chars().cycle().take(128).collect(),
        "[{(<".chars().cycle().take(128).collect(),
        "a1b|c7d(e{f[g<h".chars().cycle().take(128).collect(),
        "$|7<9@(<[9{$$%72$227%+%@61$252[$1"
            .chars()
            .cycle()
            .take(128)
            .collect(),
    ];
    let distinct_l33t = |s: &str| -> Vec<char> {
        let mut seen: Vec<char> = s.chars().filter(|c| is_l33t(*c)).collect();
        seen.sort_unstable();
        seen.dedup();
        seen
    };
    assert!(l33t_combinations(&distinct_l33t(&inputs[0])) > 500);
    for input in &inputs {
        let judged = judged_form(input);
        assert!(judged.chars().count() <= JUDGED_CHARS);
        assert!(l33t_combinations(&distinct_l33t(&judged)) <= MAX_L33T_COMBINATIONS);
        // Judged, whatever the verdict: no panic, a field error at worst.
        let _ = refusal(input, &["someone@example.com"]);
    }
    assert_eq!(refusal(&inputs[0], &[]), None, "a symbol soup is strong");
    // Passwords within the bounds are judged as they are.
    assert_eq!(judged_form("P@55w0rd!"), "P@55w0rd!");
    assert!(refusal("P@55w0rd!", &[]).is_some());
    assert!(refusal("p4$$w0rd1", &[]).is_some());
}

#[tokio::test]
async fn a_new_password_is_judged_and_hashed_on_the_blocking_pool() {
    let hasher = cheap();
    let weak = Password::parse("password123".into(), "password").unwrap();
    let refused = hasher.hash_new(&weak, &[]).await.unwrap_err();
    assert!(matches!(refused, NewPasswordError::Weak(e) if e.field == "password"));
    let own = Password::parse("zephyrine.k".into(), "new_password").unwrap();
    assert!(
        hasher
            .hash_new(&own, &["zephyrine@example.com"])
            .await
            .is_err()
    );
    let hash = hasher.hash_new(&own, &[]).await.unwrap();
    assert!(hasher.verify(own.password(), Some(&hash)).await);
}

proptest! {
    #[test]
    fn length_policy_counts_characters(raw in "\\PC{0,200}") {
        let chars = raw.chars().count();
        let parsed = Password::parse(raw, "password").and_then(|new| new.judge(&[]));
        if !(8..=128).contains(&chars) {
            prop_assert!(parsed.is_err());
        } else if let Err(error) = parsed {
            prop_assert_eq!(error.code, Some("password_too_common"));
        }
    }
}
