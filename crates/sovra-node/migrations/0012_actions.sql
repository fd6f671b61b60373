-- Federation actions (PROTOCOL.md §23). Times are unix milliseconds; a token's own `iat` is
-- in seconds, as in the token.

-- Every action token this cloud issued (out) or accepted (in), by its content address. An
-- inbound row is written `queued` in the same commit as the 202; its effects (followers,
-- connections) are applied by the processing task, which sets `done` in the commit that applies
-- them, so a crash between the two loses nothing and applies nothing twice.
CREATE TABLE actions (
    id TEXT PRIMARY KEY,                   -- a1~…
    token TEXT NOT NULL,
    direction TEXT NOT NULL,               -- in | out
    issuer TEXT NOT NULL,                  -- iss
    type TEXT NOT NULL,                    -- t, with its subtype
    audience TEXT,                         -- aud
    parent TEXT,                           -- p
    subject TEXT,                          -- sub
    content TEXT,                          -- c, JSON
    attachments TEXT,                      -- a, JSON array of file ids
    public INTEGER NOT NULL DEFAULT 0,     -- v = "P"
    iat INTEGER NOT NULL,
    origin TEXT,                           -- the issuer's actions base URL, as resolved
    state TEXT NOT NULL,                   -- queued | done
    received_at INTEGER NOT NULL
);
CREATE INDEX actions_queued ON actions (received_at) WHERE state = 'queued';
CREATE INDEX actions_by_time ON actions (direction, received_at);

-- The keys this cloud signed actions with: the current one (expires_at NULL) and the ones it
-- replaced, listed in /api/me until they expire so their tokens keep verifying.
CREATE TABLE action_keys (
    key_id TEXT PRIMARY KEY,
    public_key TEXT NOT NULL,              -- base64 SubjectPublicKeyInfo
    created_at INTEGER NOT NULL,
    expires_at INTEGER
);

-- in: they follow us; out: we follow them.
CREATE TABLE follows (
    id_tag TEXT NOT NULL,
    direction TEXT NOT NULL,
    base_url TEXT NOT NULL,
    action_id TEXT NOT NULL,
    since INTEGER NOT NULL,
    PRIMARY KEY (id_tag, direction)
);

CREATE TABLE connections (
    id_tag TEXT PRIMARY KEY,
    state TEXT NOT NULL,                   -- requested (we asked) | asked (they asked) | connected
    base_url TEXT NOT NULL,
    request_id TEXT NOT NULL,              -- the CONN action
    since INTEGER NOT NULL
);

-- Id tags whose actions this cloud refuses (403 `blocked`); blocking ends their follow and
-- any connection.
CREATE TABLE action_blocks (
    id_tag TEXT PRIMARY KEY,
    since INTEGER NOT NULL
);

-- Content-addressed files (f1~…), bytes as standard base64 so the archive carries them.
CREATE TABLE files (
    id TEXT PRIMARY KEY,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    data TEXT NOT NULL,
    origin TEXT,                           -- the id tag it was fetched from; NULL: uploaded here
    created_at INTEGER NOT NULL
);

-- Action deliveries share the outbox with D2D messages: `kind` says which.
ALTER TABLE outbox ADD COLUMN kind TEXT NOT NULL DEFAULT 'd2d';
