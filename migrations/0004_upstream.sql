-- Orders held by upstream shops. Each object an upstream returns keeps the upstream's id in its own platform's
-- scheme and gets ids ordermux allocates in the other two, so a caller of any dialect can name it.
CREATE TABLE upstream_ids (
    backend           TEXT NOT NULL,
    kind              TEXT NOT NULL,
    upstream_id       TEXT NOT NULL,
    -- For objects inside an order (line items), the upstream id of that order.
    order_upstream_id TEXT,
    fluentcart_id     INTEGER NOT NULL,
    commercelayer_id  TEXT NOT NULL,
    bigcommerce_id    INTEGER NOT NULL,
    PRIMARY KEY (backend, kind, upstream_id)
);
CREATE UNIQUE INDEX upstream_ids_fluentcart ON upstream_ids (backend, kind, fluentcart_id);
CREATE UNIQUE INDEX upstream_ids_commercelayer ON upstream_ids (backend, kind, commercelayer_id);
CREATE UNIQUE INDEX upstream_ids_bigcommerce ON upstream_ids (backend, kind, bigcommerce_id);

-- The create journal: one row per order ordermux sends to an upstream, keyed by the stamp it carries there
-- (BigCommerce external_id, Commerce Layer reference, FluentCart note), so a retry or a restart reconciles with
-- the upstream instead of creating a second order.
CREATE TABLE upstream_journal (
    backend     TEXT NOT NULL,
    key         TEXT NOT NULL,
    client      TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'confirmed', 'failed')),
    upstream_id TEXT,
    -- Adapter progress through a multi-step create (Commerce Layer), as JSON.
    steps       TEXT NOT NULL DEFAULT '{}',
    last_error  TEXT,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (backend, key)
);
