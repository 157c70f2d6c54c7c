-- The day-before list and the after-event questionnaire (issue 10).
--
-- event_followups: one row per event, the claims of what is sent about it once. The day-before list is
-- claimed by setting digest_for (the start it was posted for: an event moved to another day gets a
-- list again); the questionnaire by setting survey_sent_at (with the questions as sent, so a later
-- change of the configuration cannot mislabel answers), its close by setting survey_closed_at. Each
-- claim is a conditional UPDATE in the transaction that writes its outbox rows.
CREATE TABLE event_followups (
    event_id INTEGER PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
    digest_for TEXT,
    digest_posted_at TEXT,
    survey_questions TEXT,
    survey_sent_at TEXT,
    survey_closes_at TEXT,
    survey_asked INTEGER NOT NULL DEFAULT 0,
    survey_closed_at TEXT
);
CREATE INDEX event_followups_open ON event_followups (survey_closed_at, survey_closes_at);

-- Who was asked (had a seat and followed when it went out): only they may answer. next_question is the
-- question a typed number or label answers (NULL once every question is answered or it closed): the
-- only conversation state the questionnaire keeps.
CREATE TABLE survey_recipients (
    event_id INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    next_question INTEGER,
    asked_at TEXT NOT NULL,
    PRIMARY KEY (event_id, user_id)
);
CREATE INDEX survey_recipients_pending ON survey_recipients (user_id, next_question);

-- One answer per citizen and question: the last one counts until the questionnaire closes.
CREATE TABLE survey_answers (
    event_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    question INTEGER NOT NULL CHECK (question BETWEEN 1 AND 3),
    choice INTEGER NOT NULL CHECK (choice BETWEEN 1 AND 5),
    answered_at TEXT NOT NULL,
    PRIMARY KEY (event_id, user_id, question),
    FOREIGN KEY (event_id, user_id) REFERENCES survey_recipients (event_id, user_id) ON DELETE CASCADE
);
