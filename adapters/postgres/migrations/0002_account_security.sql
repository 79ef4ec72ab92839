-- Throttle counters shared by every instance: one fixed window per key.
CREATE TABLE attempt_counters (
    key        text        NOT NULL CONSTRAINT attempt_counters_pkey PRIMARY KEY,
    count      integer     NOT NULL,
    resets_at  timestamptz NOT NULL
);
CREATE INDEX attempt_counters_resets_at_idx ON attempt_counters (resets_at);

-- The key that signs device cookies, made by the first instance that needs it.
CREATE TABLE device_keys (
    id   smallint NOT NULL CONSTRAINT device_keys_pkey PRIMARY KEY CONSTRAINT device_keys_single CHECK (id = 1),
    key  bytea    NOT NULL CONSTRAINT device_keys_length CHECK (octet_length(key) >= 32)
);
