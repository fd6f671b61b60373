-- The registry's database. Times are unix milliseconds. No phone number is stored in clear:
-- phone_hash is HMAC-SHA-256 under the registry's pepper (pepper_version says which).

-- A code sent by SMS, awaiting its check. code_mac is an HMAC of the code, not the code.
CREATE TABLE verifications (
    id TEXT PRIMARY KEY,
    phone_hash TEXT NOT NULL,
    pepper_version INTEGER NOT NULL,
    code_mac TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'open'     -- open | used | locked
);

-- Every code sent, for the per-phone and per-client rate limits.
CREATE TABLE sends (
    phone_hash TEXT NOT NULL,
    client TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX sends_by_phone ON sends (phone_hash, at);
CREATE INDEX sends_by_client ON sends (client, at);

-- One cloud per phone. `lookup` is the signed Lookup JSON (record + chain + registry
-- signature) served as is, so a lookup is one indexed read and no signing.
CREATE TABLE clouds (
    id INTEGER PRIMARY KEY,
    phone_hash TEXT NOT NULL UNIQUE,
    pepper_version INTEGER NOT NULL,
    handle TEXT NOT NULL UNIQUE,
    skeleton TEXT NOT NULL UNIQUE,         -- look-alike-insensitive form of the name
    pubkey TEXT NOT NULL UNIQUE,
    lookup TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    last_active_at INTEGER NOT NULL        -- the registration lock counts from here
);

-- Device keys the cloud key certified, added by the high-trust device operation.
CREATE TABLE devices (
    cloud_id INTEGER NOT NULL REFERENCES clouds (id),
    pubkey TEXT NOT NULL,
    certificate TEXT NOT NULL,
    added_at INTEGER NOT NULL,
    PRIMARY KEY (cloud_id, pubkey)
);

-- Handles given up by a rename: not claimable until `until`, looked up as "now <successor>".
CREATE TABLE retired_handles (
    skeleton TEXT PRIMARY KEY,
    handle TEXT NOT NULL,
    successor TEXT NOT NULL,
    until INTEGER NOT NULL
);
