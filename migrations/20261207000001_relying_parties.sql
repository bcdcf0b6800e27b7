-- Relying parties of the OpenID provider are clients with redirect URIs.
-- A client without them is today's API client (introspection, revocation,
-- client_credentials). Public clients (browser and native apps) have no
-- secret: they prove themselves with PKCE.
ALTER TABLE api_clients
    ALTER COLUMN secret_hash DROP NOT NULL,
    -- Matched byte for byte (RFC 8252's loopback-port exception only).
    ADD COLUMN redirect_uris             text[]  NOT NULL DEFAULT '{}',
    ADD COLUMN post_logout_redirect_uris text[]  NOT NULL DEFAULT '{}',
    ADD COLUMN backchannel_logout_uri    text,
    ADD COLUMN first_party               boolean NOT NULL DEFAULT false,
    -- The scopes it may ask for; existing clients keep every scope.
    ADD COLUMN scopes                    text[]  NOT NULL
        DEFAULT '{openid,profile,email,offline_access,roles}',
    ADD COLUMN id_token_alg              text    NOT NULL DEFAULT 'RS256'
        CHECK (id_token_alg IN ('RS256', 'ES256', 'EdDSA')),
    -- A public client signs users in: it needs somewhere to send them back.
    ADD CONSTRAINT public_clients_redirect
        CHECK (secret_hash IS NOT NULL OR cardinality(redirect_uris) > 0);
