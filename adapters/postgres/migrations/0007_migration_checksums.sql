-- The SHA-256 of each applied migration's file, so that a file edited after it was applied is
-- refused rather than silently taken as applied. Rows applied before this migration get theirs
-- from the files the first time a version that checks them runs (they were applied from the same
-- files). Nullable: an older version, still running during a rolling upgrade, inserts none.
ALTER TABLE schema_migrations ADD COLUMN checksum text;
