-- Sessions in at most 200 bytes each, indexes included (bench/RESULTS.md has the figures):
-- user agents stored once in their own table, the client address as inet, columns ordered so
-- that no alignment padding is needed, the token hash found through a hash index (a fifth of a
-- btree entry; a SHA-256 of 256 random bits needs no uniqueness check), and no index on the
-- public id (it is only ever looked up together with its user, through the user_id index).
CREATE TABLE user_agents (
    id          integer GENERATED ALWAYS AS IDENTITY CONSTRAINT user_agents_pkey PRIMARY KEY,
    user_agent  text    NOT NULL CONSTRAINT user_agents_user_agent_key UNIQUE
);

CREATE FUNCTION sessionauth_user_agent_id(agent text) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    found integer;
BEGIN
    IF agent IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT id INTO found FROM user_agents WHERE user_agent = agent;
    IF found IS NULL THEN
        INSERT INTO user_agents (user_agent) VALUES (agent) ON CONFLICT (user_agent) DO NOTHING RETURNING id INTO found;
        IF found IS NULL THEN  -- a concurrent login inserted it first
            SELECT id INTO found FROM user_agents WHERE user_agent = agent;
        END IF;
    END IF;
    RETURN found;
END
$$;

CREATE TABLE sessions_compact (
    created_at     timestamptz NOT NULL,
    last_seen_at   timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    id             uuid        NOT NULL,
    user_id        uuid        NOT NULL CONSTRAINT sessions_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    user_agent_id  integer     CONSTRAINT sessions_user_agent_id_fkey REFERENCES user_agents (id),
    token_hash     bytea       NOT NULL CONSTRAINT sessions_token_hash_length CHECK (octet_length(token_hash) = 32),
    ip             inet
);

INSERT INTO user_agents (user_agent)
    SELECT DISTINCT user_agent FROM sessions WHERE user_agent IS NOT NULL;
INSERT INTO sessions_compact (created_at, last_seen_at, expires_at, id, user_id, user_agent_id, token_hash, ip)
    SELECT s.created_at, s.last_seen_at, s.expires_at, s.id, s.user_id, a.id, s.token_hash, s.ip::inet
    FROM sessions s LEFT JOIN user_agents a ON a.user_agent = s.user_agent;

DROP TABLE sessions;
ALTER TABLE sessions_compact RENAME TO sessions;
CREATE INDEX sessions_token_hash_idx ON sessions USING hash (token_hash);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);

CREATE TRIGGER sessions_notify_revoked
    AFTER DELETE ON sessions
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sessionauth_notify_revoked();
