-- Lists default to id order: without this index every page sorted all of a client's orders.
CREATE INDEX orders_by_client_fluentcart_id ON orders (client, fluentcart_id);
CREATE INDEX orders_by_client_updated ON orders (client, updated_at);
