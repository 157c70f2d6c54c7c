-- Unanswered cases: when the thread mention and the escalation-channel post went out (each once).
ALTER TABLE cases ADD COLUMN reminded_at TEXT;
ALTER TABLE cases ADD COLUMN escalated_at TEXT;
