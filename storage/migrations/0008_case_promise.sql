-- What the citizen was promised: the answer date (closing time of the Nth business day, UTC), whether the
-- consultation came in out of hours, and when staff were told that the date passed unanswered (once).
ALTER TABLE cases ADD COLUMN answer_due_at TEXT;
ALTER TABLE cases ADD COLUMN received_out_of_hours INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cases ADD COLUMN overdue_notified_at TEXT;
CREATE INDEX cases_answer_due ON cases (answer_due_at) WHERE status != 'closed' AND first_response_at IS NULL;
