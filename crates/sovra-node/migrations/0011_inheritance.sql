-- Inheritance (PROTOCOL.md §22).

-- The cloud key's policy naming heirs; one row.
CREATE TABLE inheritance (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    policy TEXT NOT NULL,                  -- InheritancePolicy JSON
    active_at INTEGER NOT NULL,            -- the owner's last activity seen (unix ms)
    warned_at INTEGER,                     -- the last warning to the owner's devices
    fired_at INTEGER                       -- when the switch fired (then the cloud is sealed)
);

-- Heirs told that the switch fired.
CREATE TABLE heir_notices (
    heir TEXT PRIMARY KEY,
    told_at INTEGER NOT NULL
);

-- A whitelisted peer that is this cloud's heir, once the switch fired: read | control.
ALTER TABLE whitelist ADD COLUMN heir TEXT;

-- The heir's side: clouds that named this cloud heir and whose switch fired.
CREATE TABLE inherited (
    cloud TEXT PRIMARY KEY,                -- the cloud key (base64)
    handle TEXT,
    grant_kind TEXT NOT NULL,              -- read | control
    notice TEXT NOT NULL,                  -- InheritanceNotice JSON
    received_at INTEGER NOT NULL
);
