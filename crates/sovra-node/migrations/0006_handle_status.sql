-- Whether a pending request's claimed handle is this key's at a registry: unchecked (not yet
-- asked), verified (the registry's signed record has this key), unverified (no registry
-- vouches either way), impostor (the record has another key). PROTOCOL.md §15.4.
ALTER TABLE pending ADD COLUMN handle_status TEXT NOT NULL DEFAULT 'unchecked';
