-- A customer's default address (JSON, canonical form), for shops that need one on every order.
ALTER TABLE customers ADD COLUMN address TEXT;
