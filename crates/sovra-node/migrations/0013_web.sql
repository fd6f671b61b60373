-- The owner's web page (docs/PROTOCOL.md §24): one-time pairing codes and browser sessions.
-- Both are bound to a device the cloud key attached (`devices`), so detaching that device ends
-- them. Only SHA-256 digests of the codes and session tokens are stored: a copy of the database
-- does not open a session. Node-local: never archived.
CREATE TABLE web_pairings (
    code_hash TEXT PRIMARY KEY,
    device TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE TABLE web_sessions (
    token_hash TEXT PRIMARY KEY,
    device TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX web_sessions_device ON web_sessions (device);
