-- The OpenID provider's state. A relying party's tokens live in a session of
-- their own (a "client session"): a child of the browser session it came
-- from, so whatever ends the browser session ends it, and its access tokens
-- are checked against it like every token of this service.
ALTER TABLE sessions
    ADD COLUMN client_id uuid REFERENCES api_clients (id) ON DELETE CASCADE,
    ADD COLUMN parent_id uuid REFERENCES sessions (id) ON DELETE CASCADE,
    -- The scopes granted to the client (its tokens' `scope`).
    ADD COLUMN scopes    text[],
    ADD CONSTRAINT client_sessions_are_complete CHECK (
        (client_id IS NULL) = (parent_id IS NULL) AND (client_id IS NULL) = (scopes IS NULL));
CREATE INDEX sessions_parent_idx ON sessions (parent_id) WHERE parent_id IS NOT NULL;

-- An authorization request, kept by id across sign-in and consent (and a
-- pushed one, RFC 9126, until its single use).
CREATE TABLE oidc_authorization_requests (
    id              uuid        PRIMARY KEY,
    client_id       uuid        NOT NULL REFERENCES api_clients (id) ON DELETE CASCADE,
    redirect_uri    text        NOT NULL,
    scopes          text[]      NOT NULL,
    state           text,
    nonce           text,
    code_challenge  text,
    prompt_login    boolean     NOT NULL DEFAULT false,
    prompt_consent  boolean     NOT NULL DEFAULT false,
    prompt_none     boolean     NOT NULL DEFAULT false,
    max_age         bigint,
    login_hint      text,
    ui_locales      text,
    -- The `sub` of a valid id_token_hint: the user the client expects.
    hinted_user_id  uuid,
    acr_values      text,
    pushed          boolean     NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL
);
CREATE INDEX oidc_authorization_requests_expiry_idx ON oidc_authorization_requests (expires_at);

-- Authorization codes: single use, 60 s, bound to the client, the redirect
-- URI and the PKCE challenge. Only the code's SHA-256 is kept.
CREATE TABLE oidc_codes (
    code_hash         bytea       PRIMARY KEY CHECK (octet_length(code_hash) = 32),
    client_id         uuid        NOT NULL REFERENCES api_clients (id) ON DELETE CASCADE,
    redirect_uri      text        NOT NULL,
    code_challenge    text,
    user_id           uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The browser session the user authorized from (the ID token's `sid`).
    session_id        uuid        NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    scopes            text[]      NOT NULL,
    nonce             text,
    acr_requested     boolean     NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz NOT NULL,
    used_at           timestamptz,
    -- The client session the first exchange opened: a second use revokes it.
    issued_session_id uuid        REFERENCES sessions (id) ON DELETE SET NULL
);
CREATE INDEX oidc_codes_expiry_idx ON oidc_codes (expires_at);

-- Consents: what a user allowed a client, remembered until revoked.
CREATE TABLE oidc_grants (
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  uuid        NOT NULL REFERENCES api_clients (id) ON DELETE CASCADE,
    scopes     text[]      NOT NULL,
    granted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, client_id)
);
