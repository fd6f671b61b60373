-- One database per cloud: the cloud directory is the unit of migration.
-- Times are unix milliseconds.

CREATE TABLE whitelist (
    peer_pubkey TEXT PRIMARY KEY,          -- base64 Ed25519
    peer_handle TEXT NOT NULL,
    allowed_capabilities TEXT NOT NULL,    -- JSON array of names
    rate_limit_per_day INTEGER NOT NULL,
    expires_at INTEGER,                    -- NULL: never
    peer_url TEXT,                         -- base URL of the peer's D2D endpoints
    peer_encryption_key TEXT,              -- base64 X25519, from the peer's identity document
    created_at INTEGER NOT NULL
);

-- Handshakes from peers not on the whitelist, for the owner to approve or deny.
CREATE TABLE pending (
    id TEXT PRIMARY KEY,                   -- the handshake's conversation_id
    peer_pubkey TEXT NOT NULL,
    peer_handle TEXT,
    topic TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending'  -- pending | approved | denied
);
CREATE INDEX pending_by_peer ON pending (peer_pubkey);

-- Every handshake conversation_id handled, for replay refusal (PROTOCOL.md §9.3).
CREATE TABLE handshakes_seen (
    conversation_id TEXT PRIMARY KEY,
    seen_at INTEGER NOT NULL
);

CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    token TEXT NOT NULL UNIQUE,
    peer_pubkey TEXT NOT NULL,
    role TEXT NOT NULL,                    -- initiator | responder
    topic TEXT NOT NULL,
    session TEXT NOT NULL,                 -- StoredSession JSON (secret keys)
    state TEXT NOT NULL DEFAULT 'open',    -- open | closed
    granted TEXT NOT NULL DEFAULT '[]',    -- capabilities the peer granted us (from its ack)
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    closed_at INTEGER,
    next_send_seq INTEGER NOT NULL DEFAULT 1,
    recv_highest INTEGER NOT NULL DEFAULT 0,
    recv_seen INTEGER NOT NULL DEFAULT 0   -- ReplayWindow bitmap, as a signed 64-bit integer
);
CREATE INDEX conversations_by_peer ON conversations (peer_pubkey, state);

-- Messages in both directions, plaintext payloads as the owner's record.
CREATE TABLE messages (
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    direction TEXT NOT NULL,               -- in | out
    seq INTEGER NOT NULL,
    request_hash TEXT NOT NULL,            -- SHA-256 of the canonical request, for idempotent retransmission
    payload TEXT NOT NULL,                 -- payload JSON
    retention TEXT NOT NULL,               -- session | 90d | permanent
    in_reply_to INTEGER,
    at INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, direction, seq)
);

-- Calls to run for a received message. 'started' is committed before the adapter runs, so a
-- crash can never make a call run twice (at-most-once).
CREATE TABLE jobs (
    conversation_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'queued',  -- queued | started | done
    created_at INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);

-- Outbound deliveries, retried with backoff until delivered or the horizon passes.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    url TEXT NOT NULL,
    body TEXT NOT NULL,                    -- MessageRequest JSON (sealed)
    state TEXT NOT NULL DEFAULT 'pending', -- pending | delivered | failed
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    last_error TEXT
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);

-- Accepted handshakes and messages per peer and hour, for the rolling-day rate limit: the
-- count is the sum of the current hour and the 23 before it, so checking it costs the same
-- however busy the peer is.
CREATE TABLE rate_buckets (
    peer_pubkey TEXT NOT NULL,
    hour INTEGER NOT NULL,                 -- unix time / 3600000
    n INTEGER NOT NULL,
    PRIMARY KEY (peer_pubkey, hour)
);

CREATE TABLE capabilities (
    name TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    adapter TEXT NOT NULL                  -- adapter JSON
);

-- Device keys the cloud key certified; the owner API accepts requests signed by these.
CREATE TABLE devices (
    pubkey TEXT PRIMARY KEY,
    certificate TEXT NOT NULL,
    label TEXT NOT NULL,
    revoked_at INTEGER
);

-- Owner-API nonces inside the timestamp window, against replay.
CREATE TABLE owner_nonces (
    nonce TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
