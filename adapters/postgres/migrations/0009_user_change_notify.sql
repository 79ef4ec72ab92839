-- A change to what the session cache serves of a user (the address, its verification, the
-- disabled flag) tells every listening instance to forget that user's cached sessions, as the
-- deletion of sessions does (migration 0003): payload 'user:<id>' on sessionauth_revoked. An
-- instance that does not know the form forgets everything, which is safe.
CREATE FUNCTION sessionauth_notify_user_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('sessionauth_revoked', 'user:' || NEW.id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER users_notify_changed
    AFTER UPDATE OF email, email_verified, disabled ON users
    FOR EACH ROW
    WHEN (OLD.email IS DISTINCT FROM NEW.email
          OR OLD.email_verified IS DISTINCT FROM NEW.email_verified
          OR OLD.disabled IS DISTINCT FROM NEW.disabled)
    EXECUTE FUNCTION sessionauth_notify_user_changed();
