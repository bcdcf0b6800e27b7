-- Back-channel logout (OpenID Connect Back-Channel Logout 1.0): whenever an
-- application's session ends, its client is told, from this outbox.
--
-- The rows are written by a trigger on `sessions`, in the transaction that
-- ends the session, so every way a session ends — sign-out, logout-all,
-- revocation, password change or reset, admin disable or delete, refresh-token
-- reuse, a revoked grant, expiry (swept by the sender), a deleted user — queues
-- its logout token atomically with the end itself, including ways added later.
-- A crash after the commit loses nothing: any instance's sender delivers it.
CREATE TABLE oidc_logout_outbox (
    id              bigserial   PRIMARY KEY,
    -- No foreign keys: a deleted user's applications are still told; a
    -- deleted client's rows are dropped by the sender.
    client_id       uuid        NOT NULL,
    user_id         uuid        NOT NULL,
    -- The browser session (the ID token's `sid`) and the ended client session.
    sid             uuid        NOT NULL,
    session_id      uuid        NOT NULL,
    reason          text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    locked_until    timestamptz,
    last_error      text,
    -- Given up on after the last retry (kept a week for inspection).
    failed_at       timestamptz
);
CREATE INDEX oidc_logout_outbox_due_idx ON oidc_logout_outbox (next_attempt_at)
    WHERE failed_at IS NULL;

-- Application sessions that reach their expiry unrevoked, for the sweep.
CREATE INDEX sessions_client_expiry_idx ON sessions (expires_at)
    WHERE client_id IS NOT NULL AND revoked_at IS NULL;

CREATE FUNCTION queue_backchannel_logout() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    ended sessions;
BEGIN
    IF TG_OP = 'DELETE' THEN
        ended := OLD;
    ELSE
        ended := NEW;
    END IF;
    INSERT INTO oidc_logout_outbox (client_id, user_id, sid, session_id, reason)
    SELECT ended.client_id, ended.user_id, ended.parent_id, ended.id,
           COALESCE(ended.revoked_reason, lower(TG_OP))
    FROM api_clients c
    WHERE c.id = ended.client_id AND c.backchannel_logout_uri IS NOT NULL;
    IF FOUND THEN
        -- Wakes the senders listening (delivered at commit; none on rollback).
        PERFORM pg_notify('oidc_logout', '');
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER sessions_queue_backchannel_logout_on_end
    AFTER UPDATE OF revoked_at ON sessions
    FOR EACH ROW
    WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL AND NEW.client_id IS NOT NULL)
    EXECUTE FUNCTION queue_backchannel_logout();

CREATE TRIGGER sessions_queue_backchannel_logout_on_delete
    AFTER DELETE ON sessions
    FOR EACH ROW
    WHEN (OLD.revoked_at IS NULL AND OLD.client_id IS NOT NULL)
    EXECUTE FUNCTION queue_backchannel_logout();
