-- Announcements (issue 10, the center's information programme): which kinds of events a citizen wants
-- to hear about, a citizen's 配信停止, and the events already announced.
--
-- A kind is on only where a row says so (all off until chosen). `offered_at`: the citizen was asked,
-- after signing up for an event of this kind, whether to hear of new ones (asked once per kind, whatever
-- the answer). Kinds are configuration ids ([[events.kinds]]), not a table: a kind removed from the
-- configuration simply has nobody to announce to.
CREATE TABLE subscriptions (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    subscribed INTEGER NOT NULL DEFAULT 0 CHECK (subscribed IN (0, 1)),
    offered_at TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (user_id, kind)
);
CREATE INDEX subscriptions_by_kind ON subscriptions (kind, subscribed, user_id);

-- 配信停止: no announcement at all while a row is here; the choices above are kept for a resumption.
CREATE TABLE subscription_stops (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    stopped_at TEXT NOT NULL
);

-- An event is announced at most once: the row is the claim (INSERT ... ON CONFLICT DO NOTHING in the
-- transaction that queues the multicasts), so a double click, a retried request or two staff at once
-- queue one announcement.
CREATE TABLE announcements (
    event_id INTEGER PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
    announced_at TEXT NOT NULL,
    announced_by TEXT NOT NULL,
    recipients INTEGER NOT NULL CHECK (recipients >= 0),
    messages INTEGER NOT NULL CHECK (messages >= 0)
);
