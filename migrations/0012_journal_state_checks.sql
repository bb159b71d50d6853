-- The journals' state rule, `CHECK (state IN ('pending', 'sent', 'confirmed', 'failed'))`, made SQLite build a
-- temporary b-tree of the four names each time it checked a row (every insert and update: several per upstream
-- create or replayed order), which cost more than writing the row. The same rule is spelled here as comparisons,
-- which SQLite checks in place. A CHECK cannot be altered, so each table is rebuilt with its rows.
CREATE TABLE upstream_journal_rebuilt (
    backend       TEXT NOT NULL,
    key           TEXT NOT NULL,
    client        TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state = 'pending' OR state = 'sent' OR state = 'confirmed' OR state = 'failed'),
    upstream_id   TEXT,
    -- Adapter progress through a multi-step create (Commerce Layer), as JSON.
    steps         TEXT NOT NULL DEFAULT '{}',
    last_error    TEXT,
    updated_at    INTEGER NOT NULL,
    -- Until when (Unix milliseconds) the last attempt may still land upstream (migration 10).
    landing_until INTEGER,
    PRIMARY KEY (backend, key)
);
INSERT INTO upstream_journal_rebuilt (backend, key, client, state, upstream_id, steps, last_error, updated_at, landing_until)
    SELECT backend, key, client, state, upstream_id, steps, last_error, updated_at, landing_until FROM upstream_journal;
DROP TABLE upstream_journal;
ALTER TABLE upstream_journal_rebuilt RENAME TO upstream_journal;

CREATE TABLE replay_journal_rebuilt (
    target      TEXT NOT NULL,
    source_key  TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state = 'pending' OR state = 'sent' OR state = 'confirmed' OR state = 'failed'),
    target_id   TEXT,
    losses      TEXT NOT NULL DEFAULT '[]',
    last_error  TEXT,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (target, source_key)
);
INSERT INTO replay_journal_rebuilt (target, source_key, state, target_id, losses, last_error, updated_at)
    SELECT target, source_key, state, target_id, losses, last_error, updated_at FROM replay_journal;
DROP TABLE replay_journal;
ALTER TABLE replay_journal_rebuilt RENAME TO replay_journal;
