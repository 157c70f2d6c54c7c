-- Ward centers' network-meeting notices (issue 11): the meeting's details, its status, the staff's
-- answer sheet in Slack, the reminders' due times and claims, and each ward's answer with who gave it,
-- where, and the copies (Slack ts, LINE message id) that show it.
--
-- A reminder is claimed by setting its *_claimed_at with a conditional UPDATE in the transaction that
-- queues its messages; a change sets a new due time and clears the claim; a cancellation clears the
-- due times.
ALTER TABLE notices ADD COLUMN venue TEXT NOT NULL DEFAULT '';
ALTER TABLE notices ADD COLUMN online_url TEXT NOT NULL DEFAULT '';
ALTER TABLE notices ADD COLUMN materials_url TEXT NOT NULL DEFAULT '';
ALTER TABLE notices ADD COLUMN status TEXT NOT NULL DEFAULT 'active'
    CHECK (status IN ('active', 'changed', 'cancelled'));
ALTER TABLE notices ADD COLUMN updated_at TEXT;
ALTER TABLE notices ADD COLUMN sheet_channel TEXT;
ALTER TABLE notices ADD COLUMN sheet_ts TEXT;
ALTER TABLE notices ADD COLUMN remind_unanswered_at TEXT;
ALTER TABLE notices ADD COLUMN remind_unanswered_claimed_at TEXT;
ALTER TABLE notices ADD COLUMN remind_day_at TEXT;
ALTER TABLE notices ADD COLUMN remind_day_claimed_at TEXT;

-- SQLite cannot change a CHECK constraint in place: the table is rebuilt inside the migration's own
-- transaction (nothing references notice_recipients).
CREATE TABLE notice_recipients_new (
    notice_id INTEGER NOT NULL REFERENCES notices (id) ON DELETE CASCADE,
    ward_center_id INTEGER NOT NULL REFERENCES ward_centers (id) ON DELETE CASCADE,
    answer TEXT CHECK (answer IS NULL OR answer IN ('attend', 'absent', 'maybe')),
    attendees INTEGER CHECK (attendees IS NULL OR attendees BETWEEN 1 AND 99),
    answered_at TEXT,
    answered_by TEXT,
    answered_via TEXT CHECK (answered_via IS NULL OR answered_via IN ('slack', 'line')),
    answered_in TEXT,
    slack_channel TEXT,
    slack_ts TEXT,
    line_group_id TEXT,
    line_message_id TEXT,
    PRIMARY KEY (notice_id, ward_center_id)
);
INSERT INTO notice_recipients_new (notice_id, ward_center_id, answer, answered_at, answered_by)
    SELECT notice_id, ward_center_id, answer, answered_at, answered_by FROM notice_recipients;
DROP TABLE notice_recipients;
ALTER TABLE notice_recipients_new RENAME TO notice_recipients;

-- Every answer given, in order (the recipients row holds the current one).
CREATE TABLE notice_answers (
    id INTEGER PRIMARY KEY,
    notice_id INTEGER NOT NULL REFERENCES notices (id) ON DELETE CASCADE,
    ward_center_id INTEGER NOT NULL REFERENCES ward_centers (id) ON DELETE CASCADE,
    answer TEXT NOT NULL CHECK (answer IN ('attend', 'absent', 'maybe')),
    attendees INTEGER,
    answered_by TEXT NOT NULL,
    answered_via TEXT NOT NULL CHECK (answered_via IN ('slack', 'line')),
    answered_in TEXT NOT NULL,
    answered_at TEXT NOT NULL
);
CREATE INDEX notice_answers_by_notice ON notice_answers (notice_id, ward_center_id, id);
CREATE INDEX notices_reminders ON notices (status, remind_unanswered_at, remind_day_at);
