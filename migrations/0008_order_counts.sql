-- How many orders each client has in each status triple, kept by triggers on every write path. A list page
-- filtered by status alone (or not at all) answers its total from a few rows, and so do BigCommerce's per-status
-- counts: COUNT(*) reads an index entry per order, and these totals are asked for on every list page.
CREATE TABLE order_counts (
    client             TEXT NOT NULL,
    status             TEXT NOT NULL,
    payment_status     TEXT NOT NULL,
    fulfillment_status TEXT NOT NULL,
    n                  INTEGER NOT NULL,
    PRIMARY KEY (client, status, payment_status, fulfillment_status)
);
INSERT INTO order_counts (client, status, payment_status, fulfillment_status, n)
    SELECT client, status, payment_status, fulfillment_status, COUNT(*) FROM orders
    GROUP BY client, status, payment_status, fulfillment_status;
CREATE TRIGGER order_counts_insert AFTER INSERT ON orders BEGIN
    INSERT OR IGNORE INTO order_counts (client, status, payment_status, fulfillment_status, n)
        VALUES (NEW.client, NEW.status, NEW.payment_status, NEW.fulfillment_status, 0);
    UPDATE order_counts SET n = n + 1
        WHERE client = NEW.client AND status = NEW.status AND payment_status = NEW.payment_status
          AND fulfillment_status = NEW.fulfillment_status;
END;
CREATE TRIGGER order_counts_delete AFTER DELETE ON orders BEGIN
    UPDATE order_counts SET n = n - 1
        WHERE client = OLD.client AND status = OLD.status AND payment_status = OLD.payment_status
          AND fulfillment_status = OLD.fulfillment_status;
END;
CREATE TRIGGER order_counts_update AFTER UPDATE OF client, status, payment_status, fulfillment_status ON orders
    WHEN OLD.client IS NOT NEW.client OR OLD.status IS NOT NEW.status
      OR OLD.payment_status IS NOT NEW.payment_status OR OLD.fulfillment_status IS NOT NEW.fulfillment_status
BEGIN
    UPDATE order_counts SET n = n - 1
        WHERE client = OLD.client AND status = OLD.status AND payment_status = OLD.payment_status
          AND fulfillment_status = OLD.fulfillment_status;
    INSERT OR IGNORE INTO order_counts (client, status, payment_status, fulfillment_status, n)
        VALUES (NEW.client, NEW.status, NEW.payment_status, NEW.fulfillment_status, 0);
    UPDATE order_counts SET n = n + 1
        WHERE client = NEW.client AND status = NEW.status AND payment_status = NEW.payment_status
          AND fulfillment_status = NEW.fulfillment_status;
END;
