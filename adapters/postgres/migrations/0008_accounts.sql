-- Accounts with an email address, one-time tokens for links in mail, disabled accounts, and the
-- outbox that mail waits in until it is sent.

-- An address is used for nothing until verified. Any number of accounts may name one; one at a
-- time may hold it verified (compared case-insensitively, as mail servers do in practice).
ALTER TABLE users
    ADD COLUMN email           text,
    ADD COLUMN email_verified  boolean NOT NULL DEFAULT false,
    ADD COLUMN disabled        boolean NOT NULL DEFAULT false;
CREATE UNIQUE INDEX users_verified_email_key ON users (lower(email)) WHERE email_verified;
CREATE INDEX users_email_idx ON users (lower(email));

-- Tokens of links in mail (email verification, password reset), found by the SHA-256 of the
-- token; the token itself is never stored. Consumed by deleting the row.
CREATE TABLE account_tokens (
    token_hash  bytea       NOT NULL CONSTRAINT account_tokens_pkey PRIMARY KEY
                            CONSTRAINT account_tokens_token_hash_length CHECK (octet_length(token_hash) = 32),
    purpose     text        NOT NULL CONSTRAINT account_tokens_purpose CHECK (purpose IN ('verify_email', 'reset_password')),
    user_id     uuid        NOT NULL CONSTRAINT account_tokens_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    email       text,       -- the address a verification token confirms
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX account_tokens_user_id_idx ON account_tokens (user_id);
CREATE INDEX account_tokens_expires_at_idx ON account_tokens (expires_at);

-- Mail waiting to be sent, written in the transaction of the change it reports. A sender claims
-- due rows with FOR UPDATE SKIP LOCKED, so several instances never send one message twice. A
-- delivered message is deleted; one refused for good is kept (failed_at set, its bodies erased).
CREATE TABLE mail_outbox (
    id               uuid        NOT NULL CONSTRAINT mail_outbox_pkey PRIMARY KEY,
    kind             text        NOT NULL,
    recipient        text        NOT NULL,
    subject          text        NOT NULL,
    body_text        text,
    body_html        text,
    user_id          uuid        CONSTRAINT mail_outbox_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    created_at       timestamptz NOT NULL,
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    failed_at        timestamptz,
    last_error       text
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at) WHERE failed_at IS NULL;
CREATE INDEX mail_outbox_user_id_idx ON mail_outbox (user_id);
