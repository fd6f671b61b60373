-- Nyms the cloud key issued (PROTOCOL.md §19.7), and which a peer is shown.
CREATE TABLE nyms (
    nym TEXT PRIMARY KEY,
    certificate TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    retired_at INTEGER
);
ALTER TABLE whitelist ADD COLUMN present_as TEXT;
