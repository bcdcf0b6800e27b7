-- Accounts, profiles, sessions with rotating refresh tokens, and OAuth links.

CREATE TABLE users (
    id             uuid        PRIMARY KEY,
    -- Stored normalised (trimmed, lower-cased) by the domain's Email type; the
    -- unique index on lower(email) keeps one account per mailbox regardless.
    email          text        NOT NULL,
    name           text        NOT NULL,
    email_verified boolean     NOT NULL DEFAULT false,
    -- argon2id PHC string; NULL for accounts that only sign in through OAuth.
    password_hash  text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE user_profiles (
    user_id    uuid        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    bio        text,
    avatar_url text,
    location   text,
    website    text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sessions (
    id                 uuid        PRIMARY KEY,
    user_id            uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- SHA-256 of the current refresh token; the token itself is never stored.
    refresh_token_hash bytea       NOT NULL CHECK (octet_length(refresh_token_hash) = 32),
    rotated_at         timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    -- Absolute expiry: rotation never extends it.
    expires_at         timestamptz NOT NULL,
    last_used_at       timestamptz NOT NULL DEFAULT now(),
    revoked_at         timestamptz,
    revoked_reason     text,
    user_agent         text,
    ip                 inet
);
CREATE UNIQUE INDEX sessions_refresh_token_hash_key ON sessions (refresh_token_hash);
CREATE INDEX sessions_user_active_idx ON sessions (user_id, created_at DESC) WHERE revoked_at IS NULL;

-- Every refresh token a session has spent, so presenting any of them again is
-- recognised as reuse (possible theft) and revokes the session.
CREATE TABLE refresh_token_history (
    token_hash bytea       PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    session_id uuid        NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    rotated_at timestamptz NOT NULL
);
CREATE INDEX refresh_token_history_session_idx ON refresh_token_history (session_id);

CREATE TABLE oauth_accounts (
    provider   text        NOT NULL,
    subject    text        NOT NULL,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email      text,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT oauth_accounts_pkey PRIMARY KEY (provider, subject),
    CONSTRAINT oauth_accounts_user_provider_key UNIQUE (user_id, provider)
);
