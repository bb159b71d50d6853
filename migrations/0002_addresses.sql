-- Commerce Layer address resources created on their own (POST /api/addresses). An order that uses one keeps a
-- copy with the same ids (orders own their addresses); this table keeps the resource itself, so it can be read
-- and attached before, and independently of, any order. Its ids in every scheme are in id_map (kind 'address',
-- no owning order).
CREATE TABLE addresses (
    gateway_id       TEXT PRIMARY KEY,
    client           TEXT NOT NULL,
    commercelayer_id TEXT NOT NULL UNIQUE,
    created_at       TEXT NOT NULL,
    body             TEXT NOT NULL
);
CREATE INDEX addresses_by_client ON addresses (client);
