-- LINE channel: how each message went out (reply is free, push counts against the monthly quota),
-- and the LINE groups the bot has been invited to (ward centers' groups).

ALTER TABLE outbox ADD COLUMN delivered_via TEXT;
CREATE INDEX outbox_sent ON outbox (channel, delivered_via, sent_at);

CREATE TABLE line_groups (
    group_id TEXT PRIMARY KEY,
    joined_at TEXT NOT NULL,
    left_at TEXT
);
