-- The id map's unique index on the upstream platform's own scheme (bigcommerce_id for a BigCommerce backend) held
-- the upstream id a second time: in that scheme the upstream id is the id, and the primary key already indexes it.
-- New rows leave that column NULL (readers take the upstream id), and each scheme's index covers only the ids it
-- holds. Rows mapped before keep their copy, which always equals the upstream id.
--
-- Why it matters: every page a commit changes is written to the WAL whole (4 KiB) and synced. On bench/proxy.sh's
-- translated creates that was about 4.2 pages per create, one of them a leaf of this index.
CREATE TABLE upstream_ids_own_once (
    backend           TEXT NOT NULL,
    kind              TEXT NOT NULL,
    upstream_id       TEXT NOT NULL,
    -- For objects inside an order (line items), the upstream id of that order.
    order_upstream_id TEXT,
    -- The object's id in each scheme; NULL in the upstream platform's own scheme, where it is `upstream_id`.
    fluentcart_id     INTEGER,
    commercelayer_id  TEXT,
    bigcommerce_id    INTEGER,
    PRIMARY KEY (backend, kind, upstream_id)
);
INSERT INTO upstream_ids_own_once (backend, kind, upstream_id, order_upstream_id, fluentcart_id, commercelayer_id, bigcommerce_id)
    SELECT backend, kind, upstream_id, order_upstream_id, fluentcart_id, commercelayer_id, bigcommerce_id FROM upstream_ids;
DROP TABLE upstream_ids;
ALTER TABLE upstream_ids_own_once RENAME TO upstream_ids;
CREATE UNIQUE INDEX upstream_ids_fluentcart ON upstream_ids (backend, kind, fluentcart_id) WHERE fluentcart_id IS NOT NULL;
CREATE UNIQUE INDEX upstream_ids_commercelayer ON upstream_ids (backend, kind, commercelayer_id) WHERE commercelayer_id IS NOT NULL;
CREATE UNIQUE INDEX upstream_ids_bigcommerce ON upstream_ids (backend, kind, bigcommerce_id) WHERE bigcommerce_id IS NOT NULL;
