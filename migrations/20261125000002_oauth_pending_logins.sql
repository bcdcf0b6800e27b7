-- Logins started at /auth/oauth/{provider}/authorize, waiting for their callback.
-- Single use (the callback deletes the row it reads), short-lived, bound to the
-- browser by a cookie whose hash is stored. The state itself is never stored.
CREATE TABLE oauth_pending_logins (
    state_hash    bytea       PRIMARY KEY CHECK (octet_length(state_hash) = 32),
    provider      text        NOT NULL,
    pkce_verifier text        NOT NULL,
    nonce         text,
    browser_hash  bytea       NOT NULL CHECK (octet_length(browser_hash) = 32),
    redirect_to   text,
    link_user_id  uuid        REFERENCES users (id) ON DELETE CASCADE,
    expires_at    timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX oauth_pending_logins_expires_idx ON oauth_pending_logins (expires_at);
