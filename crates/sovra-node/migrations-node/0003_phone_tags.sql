-- Policy `phone`: one hosted cloud per phone, known only by the registry's per-node tag.
CREATE TABLE phone_tags (
    tag TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    at INTEGER NOT NULL
);
