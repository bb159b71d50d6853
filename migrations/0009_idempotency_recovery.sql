-- Recovery points for Idempotency-Key claims. `owner` is the serving process that holds an in-flight claim (a
-- number drawn when its store opened), so a claim left in flight by a process that stopped mid-request is taken
-- over by the next one instead of answering 409 until it expires. `wrote` is the gateway id of what the claimed
-- request wrote to the store, set in the same transaction as that write: the taker-over knows whether the order
-- already exists, and answers with it rather than creating it twice.
ALTER TABLE idempotency ADD COLUMN owner INTEGER;
ALTER TABLE idempotency ADD COLUMN wrote TEXT;
