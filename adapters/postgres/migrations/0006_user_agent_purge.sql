-- User agents that no session uses any more are deleted with the expired sessions (see
-- PostgresSessionRepository.purge_expired). Two changes make that safe against a login storing
-- a session with the same user agent at the same moment:
--
-- 1. The lookup locks the row it finds (FOR KEY SHARE, the very lock the session insert's
--    foreign-key check takes a moment later), so the purge cannot delete it in between: the
--    purge skips locked rows. A row the purge has already deleted, not yet committed, is waited
--    for and then not found, and the user agent is stored anew instead of failing the login.
-- 2. An index on sessions.user_agent_id: deleting a user agent makes Postgres look for sessions
--    that still reference it, and without the index that is a scan of every session for every
--    user agent deleted. Entries for one user agent are deduplicated, so it costs a few bytes
--    per session.
CREATE OR REPLACE FUNCTION sessionauth_user_agent_id(agent text) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    found integer;
BEGIN
    IF agent IS NULL THEN
        RETURN NULL;
    END IF;
    LOOP
        SELECT id INTO found FROM user_agents WHERE user_agent = agent FOR KEY SHARE;
        IF found IS NOT NULL THEN
            RETURN found;
        END IF;
        INSERT INTO user_agents (user_agent) VALUES (agent) ON CONFLICT (user_agent) DO NOTHING RETURNING id INTO found;
        IF found IS NOT NULL THEN
            RETURN found;
        END IF;
        -- A concurrent login inserted it first (or a purge removed it again): look once more.
    END LOOP;
END
$$;

CREATE INDEX sessions_user_agent_id_idx ON sessions (user_agent_id);
