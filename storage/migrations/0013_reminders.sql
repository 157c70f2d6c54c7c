-- Reminders (issue 10): a reminder whose time passed while the bot was down and whose event has
-- already started is marked 'missed' instead of being sent late. An event's reminders are one row per
-- offset before its start (`offset_seconds`), unique per event, so creating them again is a no-op.
--
-- SQLite cannot change a CHECK constraint in place: the table is rebuilt (new table, copy every row
-- with its id, drop the old one, rename) inside the migration's own transaction, so a failure leaves
-- the old table as it was. No other table references `reminders`, so dropping it cascades nothing.
CREATE TABLE reminders_new (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    due_at TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'cancelled', 'missed')),
    event_id INTEGER REFERENCES events (id) ON DELETE CASCADE,
    registration_id INTEGER REFERENCES registrations (id) ON DELETE CASCADE,
    case_id INTEGER REFERENCES cases (id) ON DELETE CASCADE,
    notice_id INTEGER REFERENCES notices (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    claimed_at TEXT,
    offset_seconds INTEGER CHECK (offset_seconds IS NULL OR offset_seconds > 0)
);
INSERT INTO reminders_new
    (id, kind, due_at, status, event_id, registration_id, case_id, notice_id, created_at, claimed_at)
    SELECT id, kind, due_at, status, event_id, registration_id, case_id, notice_id, created_at, claimed_at
    FROM reminders;
DROP TABLE reminders;
ALTER TABLE reminders_new RENAME TO reminders;
CREATE INDEX reminders_due ON reminders (status, due_at);
CREATE INDEX reminders_by_event ON reminders (event_id, status);
-- NULLs are distinct in a UNIQUE index: rows of other kinds (no event, no offset) never collide.
CREATE UNIQUE INDEX reminders_event_offset ON reminders (kind, event_id, offset_seconds);
