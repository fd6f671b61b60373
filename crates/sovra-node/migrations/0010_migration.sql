-- Moving and sealing a cloud (PROTOCOL.md §20, §21).

-- This copy's place in a move; one row. Node-local: never exported.
CREATE TABLE migration (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    state TEXT NOT NULL DEFAULT 'serving', -- serving | moving (frozen for an export) | moved
    statement TEXT,                        -- moved: the move statement JSON peers are shown
    at INTEGER NOT NULL DEFAULT 0
);
INSERT INTO migration (id) VALUES (1);

-- The cloud's own move statements (exported: the next one numbers after the last).
CREATE TABLE moves (
    seq INTEGER PRIMARY KEY,
    statement TEXT NOT NULL,               -- MoveStatement JSON
    old_endpoint TEXT,                     -- where the cloud was served before, to be told
    old_told INTEGER NOT NULL DEFAULT 0,   -- 1 once the old node acknowledged
    at INTEGER NOT NULL
);

-- A peer's last move statement followed here, and the last of ours the peer was told.
ALTER TABLE whitelist ADD COLUMN moved_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE whitelist ADD COLUMN told_move_seq INTEGER NOT NULL DEFAULT 0;

-- Sealed swarms ('*': the whole cloud) and who may unseal them.
CREATE TABLE seals (
    swarm TEXT PRIMARY KEY,
    unseal TEXT NOT NULL,                  -- owner | never | heirs
    sealed_at INTEGER NOT NULL
);
