-- Administration: disabled accounts, who acted in the audit trail, and the API
-- clients that introspect and revoke tokens.

-- A disabled account cannot sign in (403 account_disabled); disabling revokes
-- every session in the same transaction.
ALTER TABLE users ADD COLUMN disabled_at timestamptz;

-- The admin listing searches by address prefix (`lower(email) LIKE 'ada%'`).
CREATE INDEX users_email_prefix_idx ON users (lower(email) text_pattern_ops);

-- Who did it, when it was not the user themself (an admin; NULL otherwise).
ALTER TABLE audit_events ADD COLUMN actor_id uuid;

-- What a sign-in reads of a user: as before, and whether the account is disabled.
CREATE OR REPLACE VIEW user_credentials AS
SELECT u.id,
       u.email,
       u.password_hash,
       EXISTS (SELECT 1 FROM mfa_totp t
               WHERE t.user_id = u.id AND t.confirmed_at IS NOT NULL) AS totp,
       EXISTS (SELECT 1 FROM mfa_recovery_codes r
               WHERE r.user_id = u.id AND r.used_at IS NULL) AS recovery_code,
       EXISTS (SELECT 1 FROM passkeys p WHERE p.user_id = u.id) AS webauthn,
       u.disabled_at IS NOT NULL AS disabled
FROM users u;

-- Confidential clients of the introspection and revocation endpoints (other
-- services of the platform). The secret is 256 random bits, shown once; only
-- its SHA-256 is kept (a secret that strong needs no slow hash).
CREATE TABLE api_clients (
    id          uuid        PRIMARY KEY,
    name        text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    secret_hash bytea       NOT NULL CHECK (octet_length(secret_hash) = 32),
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- The admin who made it; NULL when made on the command line.
    created_by  uuid        REFERENCES users (id) ON DELETE SET NULL
);
