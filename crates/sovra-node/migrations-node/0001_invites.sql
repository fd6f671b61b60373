-- The node's own database ($SOVRA_HOME/node.db), apart from every cloud's: what the operator
-- decides about hosting. Invite codes are stored only as SHA-256 hashes.
CREATE TABLE invites (
    code_hash TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_by TEXT,                -- the cloud name it created
    used_at INTEGER
);
