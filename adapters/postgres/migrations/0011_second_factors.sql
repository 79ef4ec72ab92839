-- Second factors: how each session was reached, TOTP secrets (sealed), recovery codes (hashed),
-- WebAuthn credentials, and the short-lived challenges of their ceremonies.

-- domain.session.AuthMethod as a bit set: 1 password, 2 TOTP, 4 recovery code, 8 WebAuthn,
-- 16 passkey. Read with the session on the hot path, so the assurance level costs no query. A
-- constant default: no table rewrite, and every session before this migration had a password.
ALTER TABLE sessions ADD COLUMN methods smallint NOT NULL DEFAULT 1;

-- One TOTP secret per user, AES-GCM sealed; pending until a first code confirms it. last_step is
-- the latest time step accepted: a code of that step or an earlier one is a replay.
CREATE TABLE totp_factors (
    user_id        uuid        NOT NULL CONSTRAINT totp_factors_pkey PRIMARY KEY
                               CONSTRAINT totp_factors_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    sealed_secret  bytea       NOT NULL,
    created_at     timestamptz NOT NULL,
    confirmed      boolean     NOT NULL DEFAULT false,
    last_step      bigint
);

-- Recovery codes by the SHA-256 of the code (120 random bits each); consumed by deleting the row.
CREATE TABLE recovery_codes (
    code_hash   bytea       NOT NULL CONSTRAINT recovery_codes_pkey PRIMARY KEY
                            CONSTRAINT recovery_codes_code_hash_length CHECK (octet_length(code_hash) = 32),
    user_id     uuid        NOT NULL CONSTRAINT recovery_codes_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL
);
CREATE INDEX recovery_codes_user_id_idx ON recovery_codes (user_id);

-- Security keys and passkeys. credential_id is the authenticator's own id, unique across users.
CREATE TABLE webauthn_credentials (
    id             uuid        NOT NULL CONSTRAINT webauthn_credentials_pkey PRIMARY KEY,
    user_id        uuid        NOT NULL CONSTRAINT webauthn_credentials_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    credential_id  bytea       NOT NULL CONSTRAINT webauthn_credentials_credential_id_key UNIQUE,
    public_key     bytea       NOT NULL,
    sign_count     bigint      NOT NULL DEFAULT 0,
    name           text        NOT NULL,
    created_at     timestamptz NOT NULL,
    last_used_at   timestamptz,
    transports     text[]      NOT NULL DEFAULT '{}',
    discoverable   boolean     NOT NULL DEFAULT false,
    backed_up      boolean     NOT NULL DEFAULT false
);
CREATE INDEX webauthn_credentials_user_id_idx ON webauthn_credentials (user_id);

-- Pending logins, passkey logins, registrations and re-auth ceremonies, found by the SHA-256 of
-- their key (a cookie's secret, or one derived from a session); single-use, gone when expired.
CREATE TABLE mfa_challenges (
    key_hash            bytea       NOT NULL CONSTRAINT mfa_challenges_pkey PRIMARY KEY
                                    CONSTRAINT mfa_challenges_key_hash_length CHECK (octet_length(key_hash) = 32),
    purpose             text        NOT NULL CONSTRAINT mfa_challenges_purpose CHECK (purpose IN ('login', 'passkey', 'register', 'reauth')),
    user_id             uuid        CONSTRAINT mfa_challenges_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    webauthn_challenge  bytea,
    password_hash       text,
    failures            integer     NOT NULL DEFAULT 0,
    created_at          timestamptz NOT NULL,
    expires_at          timestamptz NOT NULL
);
CREATE INDEX mfa_challenges_user_id_idx ON mfa_challenges (user_id);
CREATE INDEX mfa_challenges_expires_at_idx ON mfa_challenges (expires_at);

-- The key that seals TOTP secrets when SECRETS_KEY is unset (as device_keys, migration 0002).
CREATE TABLE sealing_keys (
    id   smallint NOT NULL CONSTRAINT sealing_keys_pkey PRIMARY KEY CONSTRAINT sealing_keys_single CHECK (id = 1),
    key  bytea    NOT NULL CONSTRAINT sealing_keys_length CHECK (octet_length(key) = 32)
);
