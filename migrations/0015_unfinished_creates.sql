-- Creates that stopped half-way and that no caller came back for (reliability plan §9.2: no orphan draft is left
-- upstream after 15 minutes). A Commerce Layer create is several calls; one interrupted after the order was made
-- leaves a draft that only a retry under the same stamp would finish. `serve` looks for such rows now and then
-- (`UpstreamShop::sweep_unfinished`) and deletes their drafts upstream.
--
-- `swept_at`: when a sweep last looked at the row and left it (an order placed though unfinished, or a create
-- that finished after all); it is not looked at again unless an attempt touches the row after that.
ALTER TABLE upstream_journal ADD COLUMN swept_at INTEGER;
-- Only rows with steps and not confirmed: a one-call create (BigCommerce) or a finished one never enters it, so
-- the creates' hot path does not write it.
CREATE INDEX upstream_journal_unfinished ON upstream_journal (backend, updated_at)
    WHERE state <> 'confirmed' AND steps <> '{}';
