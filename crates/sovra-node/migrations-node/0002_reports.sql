-- Abuse and fault reports, each attached to the layer responsible (PROTOCOL.md §19.6): a hosted
-- cloud's participation (pod-user) or the node's hosting (node). Device trust signals are not
-- reports: they stay private to the cloud.
CREATE TABLE reports (
    id TEXT PRIMARY KEY,
    subject_kind TEXT NOT NULL,   -- pod-user | node
    subject TEXT NOT NULL,        -- pod-user:ed25519:… or node:ed25519:…
    reason TEXT NOT NULL,
    reporter TEXT,                -- a contact, if the reporter gave one
    at INTEGER NOT NULL
);
CREATE INDEX reports_by_subject ON reports (subject, at);
