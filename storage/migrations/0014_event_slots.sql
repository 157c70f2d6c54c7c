-- Consultation sessions (issue 10): an event may have time slots, each booked by one citizen.
-- The plan staff give (how many slots per advisor, minutes each, minutes between, the advisors'
-- labels such as 税理士、社会保険労務士) is kept on the event; the slots it makes from the event's
-- start are rows of event_slots. A booking is the citizen's registration with the slot it holds:
-- the unique index on registrations.slot_id lets a slot hold one booking (two citizens asking for it
-- at once: one INSERT wins), and the existing UNIQUE (event_id, user_id) one slot per citizen.
-- A consultation (case) can be linked to the booking, so the advisor sees it beforehand.
ALTER TABLE events ADD COLUMN slot_count INTEGER NOT NULL DEFAULT 0 CHECK (slot_count BETWEEN 0 AND 12);
ALTER TABLE events ADD COLUMN slot_minutes INTEGER NOT NULL DEFAULT 0 CHECK (slot_minutes >= 0);
ALTER TABLE events ADD COLUMN slot_break INTEGER NOT NULL DEFAULT 0 CHECK (slot_break >= 0);
ALTER TABLE events ADD COLUMN slot_advisors TEXT NOT NULL DEFAULT '';

CREATE TABLE event_slots (
    id INTEGER PRIMARY KEY,
    event_id INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL,
    advisor TEXT NOT NULL DEFAULT '',
    -- the advisor's place in the event's list: slots at the same time are shown in that order
    track INTEGER NOT NULL DEFAULT 0,
    UNIQUE (event_id, starts_at, advisor)
);

ALTER TABLE registrations ADD COLUMN slot_id INTEGER REFERENCES event_slots (id) ON DELETE SET NULL;
ALTER TABLE registrations ADD COLUMN case_id INTEGER REFERENCES cases (id) ON DELETE SET NULL;
CREATE UNIQUE INDEX registrations_one_per_slot ON registrations (slot_id);
CREATE INDEX registrations_by_case ON registrations (case_id) WHERE case_id IS NOT NULL;
