-- Roles: a row per (user, role); access tokens carry them, forward-auth and
-- introspection expose them. `admin` opens the admin API.
CREATE TABLE user_roles (
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       text        NOT NULL CHECK (role ~ '^[a-z][a-z0-9_.:-]{0,63}$'),
    granted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, role)
);

-- A user's roles, sorted: what every query that reads a user returns with it.
CREATE FUNCTION user_roles_of(uid uuid) RETURNS text[]
    LANGUAGE sql STABLE
    AS $$ SELECT coalesce(array_agg(role ORDER BY role), '{}') FROM user_roles WHERE user_id = uid $$;
