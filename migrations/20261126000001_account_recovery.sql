-- Account recovery and verification: single-use tokens sent by mail, the mail
-- outbox they are sent through, and the audit trail.

-- Password-reset, email-verification and email-change tokens. Only the SHA-256
-- of a token is stored; a token works once (used_at), until expires_at, and a
-- new token of one purpose voids the user's earlier ones (they are deleted).
CREATE TABLE account_tokens (
    token_hash bytea       PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    text        NOT NULL CHECK (purpose IN ('password_reset', 'email_verify', 'email_change')),
    -- The address the token proves: the user's own (reset, verify) or the new
    -- one (change). A verification whose address is no longer the user's fails.
    email      text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX account_tokens_user_purpose_idx ON account_tokens (user_id, purpose);

-- The transactional outbox: a mail is written in the transaction that makes it
-- necessary, and a background sender delivers it. A row is claimed by setting
-- locked_until (so one instance sends it), and marked sent after the SMTP server
-- accepted it; its message (which holds the link, and so the token) is then
-- erased. Failures back off (next_attempt_at) until max attempts.
CREATE TABLE mail_outbox (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    recipient       text        NOT NULL,
    message         jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    locked_until    timestamptz,
    sent_at         timestamptz,
    failed_at       timestamptz,
    last_error      text
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;

-- What happened to an account, for its owner (GET /auth/events) and for
-- operators. user_id has no foreign key: the trail outlives a deleted account
-- until retention (AUDIT_RETENTION_DAYS) removes it.
CREATE TABLE audit_events (
    id         uuid        PRIMARY KEY,
    user_id    uuid,
    event      text        NOT NULL,
    outcome    text        NOT NULL,
    ip         inet,
    user_agent text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_events_user_idx ON audit_events (user_id, created_at DESC);
CREATE INDEX audit_events_created_idx ON audit_events (created_at);
