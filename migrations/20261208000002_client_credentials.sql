-- `client_credentials` access tokens have no session to end: a client that
-- revokes one (RFC 7009) puts its `jti` here until the token expires, and
-- introspection refuses it.
CREATE TABLE revoked_client_tokens (
    jti        uuid        PRIMARY KEY,
    client_id  uuid        NOT NULL REFERENCES api_clients (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL
);
CREATE INDEX revoked_client_tokens_expiry_idx ON revoked_client_tokens (expires_at);
