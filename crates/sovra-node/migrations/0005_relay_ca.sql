-- A private CA the owner trusts for one `wss://` relay (PEM), beside the system's roots.
ALTER TABLE relays ADD COLUMN ca_pem TEXT;
