-- Until when (Unix milliseconds) the last attempt of a create may still land upstream: it was sent, and the upstream
-- neither answered nor showed the order. A retry that does not find the order by its stamp does not send it again
-- before then, or a late landing would make two. NULL: nothing of ours is in the upstream's hands.
ALTER TABLE upstream_journal ADD COLUMN landing_until INTEGER;
