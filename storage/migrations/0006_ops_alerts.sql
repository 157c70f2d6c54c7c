-- Failures that need a person (an event failed for good, a dead message, LINE's monthly limit, Slack
-- unreachable): one row per cause, so each is posted to the ops channel at most once an hour, across
-- restarts, and /madoguchi stats can list them. Details name ids and error kinds, never personal data.
CREATE TABLE ops_alerts (
    cause TEXT PRIMARY KEY,
    detail TEXT NOT NULL,
    count INTEGER NOT NULL DEFAULT 0,
    first_at TEXT NOT NULL,
    last_at TEXT NOT NULL,
    posted_at TEXT
);
