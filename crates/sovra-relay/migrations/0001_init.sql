-- The relay's whole state: envelopes waiting for their recipient, and who has answered whom.
-- Times are unix milliseconds. Bodies are the sealed D2D bodies, stored as received.

CREATE TABLE envelopes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, -- delivery order per recipient
    id TEXT NOT NULL UNIQUE,               -- the envelope id clouds see
    recipient TEXT NOT NULL,               -- base64 Ed25519
    sender TEXT NOT NULL,
    kind TEXT NOT NULL,                    -- request | response | expired
    path TEXT,                             -- request: the D2D path
    reply_to TEXT,                         -- response, expired: the request envelope
    status INTEGER,                        -- response: the HTTP status
    body TEXT,                             -- request, response: JSON
    size INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX envelopes_by_recipient ON envelopes (recipient, seq);
CREATE INDEX envelopes_by_expiry ON envelopes (expires_at);

-- Queued envelopes per recipient, for the quota, kept by the same transactions.
CREATE TABLE queues (
    recipient TEXT PRIMARY KEY,
    count INTEGER NOT NULL,
    bytes INTEGER NOT NULL
);

-- `recipient` has answered `sender`: sender's later envelopes to it need no proof of work.
CREATE TABLE contacts (
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    since INTEGER NOT NULL,
    PRIMARY KEY (sender, recipient)
);
