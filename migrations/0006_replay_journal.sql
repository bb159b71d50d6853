-- `ordermux replay`: one row per source order and target, keyed by the source's identity (platform and order id,
-- or a content hash), so a re-run skips what is done and reconciles what is uncertain.
CREATE TABLE replay_journal (
    target      TEXT NOT NULL,
    source_key  TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'confirmed', 'failed')),
    target_id   TEXT,
    losses      TEXT NOT NULL DEFAULT '[]',
    last_error  TEXT,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (target, source_key)
);
