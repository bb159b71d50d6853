-- The ids callers know an upstream order's addresses by, where those are not the upstream's own: a Commerce Layer
-- caller links addresses it made (`POST /api/addresses`) to an order, and the order then lives on a shop of another
-- platform, whose order addresses have ids of their own (FluentCart) or none (a BigCommerce billing address). The
-- caller reads the order back with the ids it linked, as on a Commerce Layer shop. One row per order and role
-- (`billing`, `shipping`: the first shipping destination), read with the order; the upstream platform's own scheme
-- is never stored here (the upstream's id, or none, stays the address's id there).
--
-- Not in `upstream_ids`: its per-scheme unique indexes would refuse one address linked in both roles, or to two
-- orders, which callers may do.
CREATE TABLE upstream_address_links (
    backend           TEXT NOT NULL,
    order_upstream_id TEXT NOT NULL,
    role              TEXT NOT NULL CHECK (role = 'billing' OR role = 'shipping'),
    fluentcart_id     INTEGER,
    commercelayer_id  TEXT,
    bigcommerce_id    INTEGER,
    PRIMARY KEY (backend, order_upstream_id, role)
) WITHOUT ROWID;
-- `/api/addresses/{id}` names a linked address by its Commerce Layer id.
CREATE INDEX upstream_address_links_commercelayer ON upstream_address_links (backend, commercelayer_id);
