-- Passkeys (WebAuthn credentials) and the ceremonies in flight.

CREATE TABLE passkeys (
    id              uuid        PRIMARY KEY,
    user_id         uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The authenticator's credential id; one credential belongs to one account.
    credential_id   bytea       NOT NULL UNIQUE,
    name            text        NOT NULL,
    -- webauthn-rs's `Passkey`: the public key (not a secret), the signature
    -- counter and the backup flags, updated after each use.
    credential      jsonb       NOT NULL,
    backup_eligible boolean     NOT NULL,
    backup_state    boolean     NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_used_at    timestamptz
);
CREATE INDEX passkeys_user_idx ON passkeys (user_id, created_at);

-- A registration or authentication started and not yet finished: webauthn-rs's
-- ceremony state (the challenge and what the answer must satisfy). Single use:
-- deleted by the request that finishes it.
CREATE TABLE webauthn_challenges (
    id             uuid        PRIMARY KEY,
    purpose        text        NOT NULL CHECK (purpose IN ('register', 'login', 'mfa')),
    -- The registering user; the user of a second-factor step.
    user_id        uuid        REFERENCES users (id) ON DELETE CASCADE,
    -- A second-factor step: the SHA-256 of the sign-in's `mfa_token`.
    mfa_token_hash bytea,
    state          jsonb       NOT NULL,
    expires_at     timestamptz NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webauthn_challenges_expires_idx ON webauthn_challenges (expires_at);
CREATE INDEX webauthn_challenges_mfa_idx ON webauthn_challenges (mfa_token_hash)
    WHERE mfa_token_hash IS NOT NULL;
