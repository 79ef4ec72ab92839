-- Every look-up by address is of a verified one, which the unique partial index
-- users_verified_email_key serves (migration 0008); this index of every address served none, and
-- cost each user row an entry.
DROP INDEX users_email_idx;
