-- Relays this cloud keeps a connection to (to be reachable without a public endpoint), and
-- published as its relay hints.
CREATE TABLE relays (
    url TEXT PRIMARY KEY,                  -- ws(s)://host:port
    added_at INTEGER NOT NULL
);

-- Relay envelopes already processed, with the answer given, so a redelivery (the relay lost
-- our ack) is answered the same way and never processed twice (PROTOCOL.md §17.4).
CREATE TABLE relay_seen (
    envelope TEXT PRIMARY KEY,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    seen_at INTEGER NOT NULL
);

-- Where a peer's relays are (from its registry record or given by the owner): the outbound
-- path when it has no endpoint or the endpoint does not answer.
ALTER TABLE whitelist ADD COLUMN peer_relays TEXT NOT NULL DEFAULT '[]';
