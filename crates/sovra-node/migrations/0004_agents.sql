-- Swarms: what answers inside a cloud. The soul (system prompt) and long-term notes are files
-- in swarms/<name>/ beside the database; a brain's API key, when kept in the cloud, is the
-- 0600 file swarms/<name>/api-key. None of them is ever stored here.
CREATE TABLE swarms (
    name TEXT PRIMARY KEY,
    mode TEXT NOT NULL DEFAULT 'auto',          -- auto | review | off
    brain TEXT NOT NULL DEFAULT '{"kind":"none"}', -- brain JSON, without secrets
    budget_per_day INTEGER NOT NULL DEFAULT 200,  -- brain answers per UTC day
    max_auto_turns INTEGER NOT NULL DEFAULT 4,    -- consecutive automatic turns answered
    memory_messages INTEGER NOT NULL DEFAULT 20,  -- recent turns given to the brain
    memory_chars INTEGER NOT NULL DEFAULT 8000,
    created_at INTEGER NOT NULL
);
INSERT INTO swarms (name, created_at) VALUES ('main', 0);

-- Which swarm answers a peer, and which swarm a capability belongs to.
ALTER TABLE whitelist ADD COLUMN swarm TEXT NOT NULL DEFAULT 'main';
ALTER TABLE capabilities ADD COLUMN swarm TEXT NOT NULL DEFAULT 'main';

-- An inbound message's job now also covers its brain answer: one job, one reply.
-- Brain answers per swarm and UTC day, for the daily budget.
CREATE TABLE swarm_usage (
    swarm TEXT NOT NULL,
    day INTEGER NOT NULL,                  -- unix ms / 86400000
    n INTEGER NOT NULL,
    PRIMARY KEY (swarm, day)
);

-- What a brain saw and said for each inbound message it answered (the owner's `log --context`).
-- Deleted with the conversation's session content, or after 90 days, like the messages it holds.
CREATE TABLE brain_runs (
    conversation_id TEXT NOT NULL,
    seq INTEGER NOT NULL,                  -- the inbound message answered
    swarm TEXT NOT NULL,
    context TEXT NOT NULL,                 -- {"system", "messages"} JSON as given to the brain
    answer TEXT,
    error TEXT,
    retention TEXT NOT NULL,               -- the most protective retention of what it holds
    at INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);

-- A brainstem keeps its own session per conversation.
CREATE TABLE brain_sessions (
    conversation_id TEXT NOT NULL,
    swarm TEXT NOT NULL,
    session_id TEXT NOT NULL,
    PRIMARY KEY (conversation_id, swarm)
);

-- Answers a review-mode swarm drafted, waiting for the owner.
CREATE TABLE drafts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL,
    in_reply_to INTEGER NOT NULL,
    swarm TEXT NOT NULL,
    payload TEXT NOT NULL,                 -- the reply payload JSON as drafted
    state TEXT NOT NULL DEFAULT 'pending', -- pending | sent | discarded
    created_at INTEGER NOT NULL
);

-- Agent API tokens, per swarm, stored as SHA-256 of the token.
CREATE TABLE agent_tokens (
    hash TEXT PRIMARY KEY,
    swarm TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

-- The swarm that wrote an outbound message (a brain's answer, an agent API message), so the
-- peer's reply can be routed back to it (`GET /api/agent/events`). NULL: the owner wrote it.
ALTER TABLE messages ADD COLUMN swarm TEXT;
