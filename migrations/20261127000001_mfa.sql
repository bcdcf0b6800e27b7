-- Second factors: TOTP, recovery codes, the sign-ins waiting for a second
-- factor, and how each session was signed in (RFC 8176 `amr`).

-- RFC 8176 method names (`pwd`, `otp`, `mfa`, `fed`, …); empty for sessions
-- opened before this column existed.
ALTER TABLE sessions ADD COLUMN amr text[] NOT NULL DEFAULT '{}';

CREATE TABLE mfa_totp (
    user_id       uuid        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    -- AES-256-GCM: a 12-byte nonce, then the sealed secret and its tag; the
    -- user id is the associated data, so a row moved to another user fails to open.
    secret_sealed bytea       NOT NULL CHECK (octet_length(secret_sealed) > 28),
    -- NULL while set-up waits for its first correct code.
    confirmed_at  timestamptz,
    -- The latest time step whose code was accepted: a code works once.
    last_step     bigint,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE mfa_recovery_codes (
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- SHA-256 of the normalised code (120 random bits); the code is never stored.
    code_hash  bytea       NOT NULL CHECK (octet_length(code_hash) = 32),
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, code_hash)
);

-- A sign-in whose first factor passed, waiting for the second. Known by the
-- SHA-256 of its `mfa_token`; deleted when completed, or after too many wrong codes.
CREATE TABLE mfa_challenges (
    token_hash bytea       PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- How the first factor was passed (`{pwd}`, `{fed}`).
    amr        text[]      NOT NULL,
    failures   integer     NOT NULL DEFAULT 0,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mfa_challenges_user_idx ON mfa_challenges (user_id);
CREATE INDEX mfa_challenges_expires_idx ON mfa_challenges (expires_at);
