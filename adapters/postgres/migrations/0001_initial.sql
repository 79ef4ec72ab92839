CREATE TABLE users (
    id                  uuid        NOT NULL CONSTRAINT users_pkey PRIMARY KEY,
    username            text        NOT NULL,
    username_canonical  text        NOT NULL CONSTRAINT users_username_canonical_key UNIQUE,
    password_hash       text        NOT NULL,
    created_at          timestamptz NOT NULL
);

-- Sessions are found by the SHA-256 of their token; the token itself is never stored.
CREATE TABLE sessions (
    token_hash    bytea       NOT NULL CONSTRAINT sessions_pkey PRIMARY KEY
                              CONSTRAINT sessions_token_hash_length CHECK (octet_length(token_hash) = 32),
    id            uuid        NOT NULL CONSTRAINT sessions_id_key UNIQUE,
    user_id       uuid        NOT NULL CONSTRAINT sessions_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    user_agent    text,
    ip            text
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
