-- How many orders each client has, kept by triggers on every write path, so a list page without filters answers
-- its total from one row: COUNT(*) reads an index entry per order, and list pages are asked for often.
CREATE TABLE order_counts (
    client TEXT PRIMARY KEY,
    n      INTEGER NOT NULL
);
INSERT INTO order_counts (client, n) SELECT client, COUNT(*) FROM orders GROUP BY client;
CREATE TRIGGER order_counts_insert AFTER INSERT ON orders BEGIN
    INSERT OR IGNORE INTO order_counts (client, n) VALUES (NEW.client, 0);
    UPDATE order_counts SET n = n + 1 WHERE client = NEW.client;
END;
CREATE TRIGGER order_counts_delete AFTER DELETE ON orders BEGIN
    UPDATE order_counts SET n = n - 1 WHERE client = OLD.client;
END;
CREATE TRIGGER order_counts_move AFTER UPDATE OF client ON orders WHEN OLD.client IS NOT NEW.client BEGIN
    UPDATE order_counts SET n = n - 1 WHERE client = OLD.client;
    INSERT OR IGNORE INTO order_counts (client, n) VALUES (NEW.client, 0);
    UPDATE order_counts SET n = n + 1 WHERE client = NEW.client;
END;
