-- The client-instance artifacts a cloud's devices were attached, detached and recovered with
-- (PROTOCOL.md §19.4), kept as received: the record of who authorized what.
CREATE TABLE device_artifacts (
    id TEXT PRIMARY KEY,                   -- attachment/id, detachment/id or recovery/id
    kind TEXT NOT NULL,                    -- attachment | detachment | recovery
    device TEXT NOT NULL,                  -- the device key (base64)
    body TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX device_artifacts_by_device ON device_artifacts (device, at);
