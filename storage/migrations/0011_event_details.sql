-- Event details (issue 10): an online address besides (or instead of) a venue; public events are
-- shown to citizens and in GET /events.ics, internal ones only to staff; the reminder offsets in
-- minutes before the start as a JSON list ([4320, 1440, 120]; NULL means the configured default,
-- [] means none); and where the event came from (a file import or a Slack modal).
ALTER TABLE events ADD COLUMN online_url TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN public INTEGER NOT NULL DEFAULT 1 CHECK (public IN (0, 1));
ALTER TABLE events ADD COLUMN reminder_offsets TEXT;
ALTER TABLE events ADD COLUMN source TEXT NOT NULL DEFAULT 'import' CHECK (source IN ('import', 'slack'));
CREATE INDEX events_public_by_start ON events (starts_at) WHERE public = 1;
