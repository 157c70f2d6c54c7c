-- Replies composed in the Slack modal wait here between the preview and the confirmation: the modal's
-- private_metadata (3,000 characters at most) carries only the draft's id. A draft is deleted when it
-- is sent; drafts nobody confirmed are deleted after a day.
CREATE TABLE reply_drafts (
    id INTEGER PRIMARY KEY,
    case_id INTEGER NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    author TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX reply_drafts_by_time ON reply_drafts (created_at);
