-- Where a request envelope came from (the sending connection's address; NULL for responses,
-- notices, and loopback senders), so each source's stored share survives a restart.
ALTER TABLE envelopes ADD COLUMN source TEXT;
CREATE INDEX envelopes_by_source ON envelopes (source) WHERE source IS NOT NULL;
