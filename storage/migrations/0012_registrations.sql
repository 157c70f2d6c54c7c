-- Registrations (issue 10, citizen side): the place in an event's waitlist. A citizen put on the
-- waitlist gets the next number of that event (the largest so far plus one), so the order is the order
-- of asking, whatever the clock says; it is cleared when they get a seat or cancel.
ALTER TABLE registrations ADD COLUMN waitlist_seq INTEGER;
CREATE INDEX registrations_by_event ON registrations (event_id, status, waitlist_seq);
CREATE INDEX registrations_by_user ON registrations (user_id);
