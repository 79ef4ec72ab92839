-- Every deletion of sessions tells the listening instances which token hashes are gone, so their
-- session caches drop them at once (LISTEN sessionauth_revoked). A large deletion sends '*'
-- (forget everything) instead of a long list. The purge of expired sessions sets
-- sessionauth.quiet: caches never serve an expired session anyway, so it need not flush them.
CREATE FUNCTION sessionauth_notify_revoked() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    gone text[];
BEGIN
    IF current_setting('sessionauth.quiet', true) = 'on' THEN
        RETURN NULL;
    END IF;
    SELECT array_agg(encode(token_hash, 'hex')) INTO gone FROM (SELECT token_hash FROM old_rows LIMIT 101) AS t;
    IF gone IS NULL THEN
        RETURN NULL;
    ELSIF cardinality(gone) > 100 THEN
        PERFORM pg_notify('sessionauth_revoked', '*');
    ELSE
        PERFORM pg_notify('sessionauth_revoked', array_to_string(gone, ','));
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER sessions_notify_revoked
    AFTER DELETE ON sessions
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sessionauth_notify_revoked();
