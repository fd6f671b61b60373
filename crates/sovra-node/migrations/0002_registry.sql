-- Registries this cloud has talked to, each key pinned on first use (PROTOCOL.md §16.2): a
-- lookup is only believed if this key signed it, whatever the registry says its key is today.
CREATE TABLE registries (
    url TEXT PRIMARY KEY,                  -- base URL, no trailing '/'
    registry_key TEXT NOT NULL,            -- base64 Ed25519
    domain TEXT NOT NULL,                  -- handles it answers for: @name.<domain>
    pinned_at INTEGER NOT NULL
);

-- This cloud's own registration: at most one row.
CREATE TABLE registration (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    registry_url TEXT NOT NULL REFERENCES registries (url),
    handle TEXT NOT NULL,
    registered_at INTEGER NOT NULL,
    record_issued_at TEXT NOT NULL,        -- issued_at of the record the registry holds
    last_heartbeat INTEGER NOT NULL
);

-- A whitelist entry resolved through a registry is refreshed from it: rotations are followed
-- (grants kept), resets become a pending request.
ALTER TABLE whitelist ADD COLUMN registry_url TEXT REFERENCES registries (url);
ALTER TABLE whitelist ADD COLUMN checked_at INTEGER;

-- Why a pending request exists: 'handshake' (a stranger knocked) or 'key_reset' (a peer's
-- handle moved to a new key through a registry reset; approving carries the old grants over).
ALTER TABLE pending ADD COLUMN reason TEXT NOT NULL DEFAULT 'handshake';
