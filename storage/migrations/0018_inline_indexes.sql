-- Indexes for statements that run on the event loop's thread (group commits, storage/db.py `inline`):
-- while one runs nothing else does, so none may walk a table that grows with use. Each serves a
-- citizen's deletion (削除), which any citizen can ask for as often as they like; before, each was a
-- scan of the deployment's whole history (tests/test_inline_plans.py finds such statements).

-- A chat's events that still hold a body (inbox.forget). Partial: an event's body is cleared once it
-- is handled, so only the pending and the failed are in it, and it stays small however old the inbox.
CREATE INDEX inbox_bodies ON inbox (order_key) WHERE payload <> '{}';

-- The outgoing rows about a case (outbox.forget_case), and the foreign key's own look-up.
CREATE INDEX outbox_by_case ON outbox (case_id) WHERE case_id IS NOT NULL;

-- A case's drafts of answers (reply_drafts.delete_for_case), and the foreign key's own look-up.
CREATE INDEX reply_drafts_by_case ON reply_drafts (case_id);

-- Deleting a registration makes SQLite look for reminders referencing it (ON DELETE CASCADE): without
-- an index, a scan of every reminder per registration deleted. Partial: no reminder names one today.
CREATE INDEX reminders_by_registration ON reminders (registration_id) WHERE registration_id IS NOT NULL;
