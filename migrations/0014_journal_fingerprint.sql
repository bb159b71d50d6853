-- The request a create journal row was begun for, when that request held an Idempotency-Key: its fingerprint
-- (method, path and body, as the key's record holds it). A failed attempt frees its key for a corrected retry, but
-- its journal row stays, keyed by the key's stamp; a later request with the key and another body would otherwise
-- be served from it, and answered with the order the first body made. Rows begun before this migration, and rows
-- of creates no caller's key names (replays, staged orders), have none and are not compared.
ALTER TABLE upstream_journal ADD COLUMN fingerprint BLOB;
