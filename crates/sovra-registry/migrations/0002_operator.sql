-- The operator's actions (PROTOCOL §16.8): a suspended cloud's lookups and changes are refused
-- with `suspended` until the operator lifts it. A takedown deletes the cloud and retires its
-- handle in `retired_handles` with an empty successor.
ALTER TABLE clouds ADD COLUMN suspended TEXT;
