-- `ordermux replay` into a shop that e-mails customers about orders: the notifications a run switched off, kept
-- until they are switched back on, so a run killed in the middle still restores them (on its re-run, or with
-- `--notifications restore`).
CREATE TABLE muted_notifications (
    backend     TEXT NOT NULL,
    name        TEXT NOT NULL,
    muted_at    INTEGER NOT NULL,
    PRIMARY KEY (backend, name)
);
