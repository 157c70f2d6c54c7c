-- A reply attempt is recorded before the reply request leaves, so that after a crash a refused
-- reply token can be read as "the first attempt arrived" instead of pushing the answer again.
ALTER TABLE outbox ADD COLUMN reply_attempted_at TEXT;
