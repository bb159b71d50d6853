-- The embedded shop: canonical orders, the id map between the gateway's and each platform's ids,
-- customers, the product catalog and idempotency records.

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

CREATE TABLE sequences (
    name TEXT PRIMARY KEY,
    last INTEGER NOT NULL
);

CREATE TABLE orders (
    gateway_id          TEXT PRIMARY KEY,
    client              TEXT NOT NULL,
    fluentcart_id       INTEGER NOT NULL UNIQUE,
    commercelayer_id    TEXT NOT NULL UNIQUE,
    bigcommerce_id      INTEGER NOT NULL UNIQUE,
    number              TEXT NOT NULL,
    reference           TEXT,
    email               TEXT,
    customer_gateway_id TEXT,
    status              TEXT NOT NULL,
    payment_status      TEXT NOT NULL,
    fulfillment_status  TEXT NOT NULL,
    currency            TEXT NOT NULL,
    total_minor         INTEGER NOT NULL,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    version             INTEGER NOT NULL,
    search_text         TEXT NOT NULL,
    body                TEXT NOT NULL
);
CREATE INDEX orders_by_client_created ON orders (client, created_at);
CREATE INDEX orders_by_client_email ON orders (client, email);
CREATE INDEX orders_by_client_reference ON orders (client, reference);
CREATE INDEX orders_by_client_number ON orders (client, number);

-- Objects inside orders (line items, addresses, shipping lines) and customers, under every platform's id scheme.
CREATE TABLE id_map (
    gateway_id       TEXT PRIMARY KEY,
    kind             TEXT NOT NULL,
    client           TEXT NOT NULL,
    order_gateway_id TEXT,
    fluentcart_id    INTEGER NOT NULL,
    commercelayer_id TEXT NOT NULL,
    bigcommerce_id   INTEGER NOT NULL
);
CREATE UNIQUE INDEX id_map_fluentcart ON id_map (kind, fluentcart_id);
CREATE UNIQUE INDEX id_map_commercelayer ON id_map (kind, commercelayer_id);
CREATE UNIQUE INDEX id_map_bigcommerce ON id_map (kind, bigcommerce_id);
CREATE INDEX id_map_by_order ON id_map (order_gateway_id);

CREATE TABLE customers (
    gateway_id TEXT PRIMARY KEY,
    client     TEXT NOT NULL,
    email      TEXT NOT NULL,
    first_name TEXT,
    last_name  TEXT,
    UNIQUE (client, email)
);

CREATE TABLE products (
    sku                    TEXT PRIMARY KEY,
    fluentcart_object_id   INTEGER UNIQUE,
    bigcommerce_product_id INTEGER UNIQUE,
    body                   TEXT NOT NULL
);

CREATE TABLE idempotency (
    client       TEXT NOT NULL,
    key          TEXT NOT NULL,
    fingerprint  BLOB NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('in_flight', 'done')),
    status       INTEGER,
    headers      TEXT,
    body         BLOB,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (client, key)
);
CREATE INDEX idempotency_by_age ON idempotency (created_at);
