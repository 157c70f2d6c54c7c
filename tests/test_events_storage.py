"""Event details (migration 0011) and the idempotent save by uid that imports and the Slack modal use."""

from __future__ import annotations

from datetime import timedelta

from storage import Database
from storage.events import EventDraft
from tests.conftest import NOW

LATER = NOW + timedelta(days=10)

DRAFT = EventDraft(
    uid="salon-2026-12",
    kind="salon",
    title="ミズベサロン12月",
    starts_at=LATER,
    ends_at=LATER + timedelta(hours=2),
    venue="市民協働推進センター",
    online_url="https://example.org/live",
    capacity=20,
    public=False,
    reminder_offsets=(120, 1440, 4320),
    source="slack",
)


async def test_details_are_kept_and_saving_the_same_draft_changes_nothing(db: Database) -> None:
    async with db.transaction() as tx:
        event, added = await tx.events.save(DRAFT, NOW)
        same, unchanged = await tx.events.save(DRAFT, NOW + timedelta(hours=1))
    assert (added, unchanged) == ("added", "unchanged")
    assert same == event and same.updated_at == NOW
    assert (event.online_url, event.public, event.source) == ("https://example.org/live", False, "slack")
    assert event.reminder_offsets == (4320, 1440, 120)  # longest first
    assert event.draft() == EventDraft(**{**DRAFT.__dict__, "reminder_offsets": (4320, 1440, 120)})
    assert await db.read.events.all_events() == [event]


async def test_a_changed_draft_updates_the_same_event_and_keeps_its_status(db: Database) -> None:
    async with db.transaction() as tx:
        event = await tx.events.upsert(DRAFT, NOW)
        await tx.events.set_status(event.id, "cancelled", NOW)
        changed, what = await tx.events.save(
            EventDraft(**{**DRAFT.__dict__, "title": "変更", "reminder_offsets": None}), LATER
        )
    assert what == "updated" and changed.id == event.id
    assert (changed.title, changed.reminder_offsets, changed.status) == ("変更", None, "cancelled")


async def test_internal_events_are_not_public(db: Database) -> None:
    async with db.transaction() as tx:
        internal = await tx.events.upsert(DRAFT, NOW)
        public = await tx.events.upsert(EventDraft(**{**DRAFT.__dict__, "uid": "p", "public": True}), NOW)
    assert await db.read.events.upcoming(NOW) == [internal, public]
    assert await db.read.events.upcoming(NOW, public_only=True) == [public]
    assert await db.read.events.upcoming_public(NOW) == [public]
    assert await db.read.events.listing(NOW) == [internal, public]
    assert await db.read.events.upcoming_public(LATER + timedelta(hours=3)) == []  # over
