-- A provider sign-in that ends in a redirect (redirect_to) hands the front end
-- a one-time code in the fragment instead of tokens: the session opens only
-- when the code is exchanged (POST /api/v1/auth/oauth/exchange). Known by its
-- SHA-256; single use; 60 seconds. Expired rows are swept on every save.
CREATE TABLE oauth_handoffs (
    code_hash  bytea       PRIMARY KEY CHECK (octet_length(code_hash) = 32),
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- How the sign-in was made (`{fed}`).
    amr        text[]      NOT NULL,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX oauth_handoffs_expires_idx ON oauth_handoffs (expires_at);
