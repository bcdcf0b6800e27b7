-- What a sign-in reads of a user, in one place: the password hash and which
-- second factors the user has. Read on the credentials path (never cached).
CREATE VIEW user_credentials AS
SELECT u.id,
       u.email,
       u.password_hash,
       EXISTS (SELECT 1 FROM mfa_totp t
               WHERE t.user_id = u.id AND t.confirmed_at IS NOT NULL) AS totp,
       EXISTS (SELECT 1 FROM mfa_recovery_codes r
               WHERE r.user_id = u.id AND r.used_at IS NULL) AS recovery_code,
       EXISTS (SELECT 1 FROM passkeys p WHERE p.user_id = u.id) AS webauthn
FROM users u;
