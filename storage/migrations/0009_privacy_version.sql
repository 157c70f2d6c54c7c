-- Privacy (issue 12): which version of the privacy notice a citizen agreed to (with privacy_agreed_at),
-- and cases whose personal data was removed: when, and why ('request': the citizen sent 削除;
-- 'retention': closed longer than [privacy] anonymise_closed_after_days). An anonymised case keeps its
-- number, category, requester type, contact method, dates, status and assignee, for statistics.
ALTER TABLE users ADD COLUMN privacy_notice_version TEXT;
ALTER TABLE cases ADD COLUMN anonymised_at TEXT;
ALTER TABLE cases ADD COLUMN anonymised_reason TEXT
    CHECK (anonymised_reason IS NULL OR anonymised_reason IN ('request', 'retention'));
CREATE INDEX cases_closed_to_anonymise ON cases (closed_at) WHERE status = 'closed' AND anonymised_at IS NULL;
