"""Salons, seminars and symposia citizens can sign up for."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Literal

import aiosqlite

from storage.base import Repository, db_value, from_row
from storage.slots import SeatsWithoutSlots, SlotRepository, SlotsBooked, SlotTimes, plan
from storage.timefmt import to_db

EventStatus = Literal["open", "closed", "cancelled"]
EventSource = Literal["import", "slack"]
# What saving a draft did: a new event, a changed one, or nothing (the same as stored).
Change = Literal["added", "updated", "unchanged"]


@dataclass(frozen=True)
class EventDraft:
    """An event as imported or created; `uid` is its stable identity (iCalendar UID or CSV id)."""

    uid: str
    kind: str
    title: str
    starts_at: datetime
    description: str = ""
    venue: str = ""
    ends_at: datetime | None = None
    capacity: int | None = None
    registration_deadline: datetime | None = None
    status: EventStatus = "open"
    online_url: str = ""
    public: bool = True
    # Minutes before the start; None = the configured default, () = no reminders.
    reminder_offsets: tuple[int, ...] | None = None
    source: EventSource = "import"
    # Time slots (consultation sessions; storage/slots.py): how many per advisor (0 = none), minutes
    # each, minutes between, and the advisors' labels (税理士、社会保険労務士: one slot each at a time).
    slot_count: int = 0
    slot_minutes: int = 0
    slot_break: int = 0
    slot_advisors: str = ""

    def planned_slots(self) -> list[SlotTimes]:
        return plan(self.starts_at, self.slot_count, self.slot_minutes, self.slot_break, self.slot_advisors)


@dataclass(frozen=True)
class Event:
    id: int
    uid: str
    kind: str
    title: str
    description: str
    venue: str
    starts_at: datetime
    ends_at: datetime | None
    capacity: int | None
    registration_deadline: datetime | None
    status: EventStatus
    created_at: datetime
    updated_at: datetime
    online_url: str = ""
    public: bool = True
    reminder_offsets: tuple[int, ...] | None = None
    source: EventSource = "import"
    slot_count: int = 0
    slot_minutes: int = 0
    slot_break: int = 0
    slot_advisors: str = ""

    @property
    def has_slots(self) -> bool:
        return self.slot_count > 0

    def open_for_sign_up(self, now: datetime) -> bool:
        """Open, not started, and its registration deadline (if any) not passed."""
        deadline = self.registration_deadline
        return self.status == "open" and self.starts_at > now and (deadline is None or deadline >= now)

    def draft(self) -> EventDraft:
        """What was saved, as a draft (to compare with a new one, or to edit)."""
        return EventDraft(**{f.name: getattr(self, f.name) for f in fields(EventDraft)})


def _event(row: aiosqlite.Row | Mapping[str, Any]) -> Event:
    values = dict(row)
    offsets = values.get("reminder_offsets")
    values["reminder_offsets"] = None if offsets is None else tuple(int(m) for m in json.loads(offsets))
    return from_row(Event, values)


def _db_values(draft: EventDraft) -> dict[str, Any]:
    values = {f.name: db_value(getattr(draft, f.name)) for f in fields(EventDraft)}
    offsets = draft.reminder_offsets
    values["reminder_offsets"] = None if offsets is None else json.dumps(sorted(set(offsets), reverse=True))
    return values


class EventRepository(Repository):
    async def upsert(self, draft: EventDraft, now: datetime) -> Event:
        """Insert, or update the event with the same uid (re-importing a file changes, never duplicates)."""
        event, _ = await self.save(draft, now)
        return event

    async def save(self, draft: EventDraft, now: datetime) -> tuple[Event, Change]:
        """`upsert`, saying what it did. An event identical to the draft is left alone (its
        updated_at too). Its status is not a detail: an existing event keeps it (cancelling is
        `set_status`), so re-importing a file never revives a cancelled event.

        Its time slots follow the draft's plan (storage/slots.py); a change that would drop or move a
        booked slot raises SlotsBooked, and slots for an event with sign-ups that hold none raise
        SeatsWithoutSlots, before anything is written."""
        existing = await self.by_uid(draft.uid)
        if existing is not None and _same(existing.draft(), draft):
            return existing, "unchanged"
        slots = SlotRepository(self._statements)
        wanted = draft.planned_slots()
        if existing is not None:
            lost = await slots.lost_by(existing.id, wanted)
            if lost:
                raise SlotsBooked(lost)
            unslotted = await slots.seats_without_slot(existing.id) if wanted else 0
            if unslotted:
                raise SeatsWithoutSlots(unslotted)
        values = _db_values(draft)
        columns = ", ".join(values)
        marks = ", ".join(f":{k}" for k in values)
        updates = ", ".join(f"{k} = excluded.{k}" for k in values if k not in ("uid", "status"))
        await self._run(
            f"INSERT INTO events ({columns}, created_at, updated_at) VALUES ({marks}, :now, :now)"
            f" ON CONFLICT (uid) DO UPDATE SET {updates}, updated_at = :now",
            {**values, "now": to_db(now)},
        )
        event = await self.by_uid(draft.uid)
        assert event is not None
        await slots.sync(event.id, wanted)
        return event, "added" if existing is None else "updated"

    async def get(self, event_id: int) -> Event | None:
        row = await self._one("SELECT * FROM events WHERE id = ?", (event_id,))
        return None if row is None else _event(row)

    async def by_uid(self, uid: str) -> Event | None:
        row = await self._one("SELECT * FROM events WHERE uid = ?", (uid,))
        return None if row is None else _event(row)

    async def upcoming(self, now: datetime, limit: int = 50, *, public_only: bool = False) -> list[Event]:
        """Open events still to start; `public_only` for what citizens may see (not internal ones)."""
        rows = await self._all(
            "SELECT * FROM events WHERE starts_at >= ? AND status != 'cancelled'"
            + (" AND public = 1" if public_only else "")
            + " ORDER BY starts_at LIMIT ?",
            (to_db(now), limit),
        )
        return [_event(r) for r in rows]

    async def upcoming_public(self, now: datetime, limit: int = 500) -> list[Event]:
        """Public events not yet over (cancelled ones too, so calendars can drop them), by start."""
        rows = await self._all(
            "SELECT * FROM events WHERE public = 1 AND coalesce(ends_at, starts_at) >= ?"
            " ORDER BY starts_at, id LIMIT ?",
            (to_db(now), limit),
        )
        return [_event(r) for r in rows]

    async def listing(self, since: datetime, limit: int = 200, cancelled: bool = False) -> list[Event]:
        """Events (public and internal) not yet over at `since`, by start: what staff manage."""
        rows = await self._all(
            "SELECT * FROM events WHERE coalesce(ends_at, starts_at) >= ?"
            + ("" if cancelled else " AND status != 'cancelled'")
            + " ORDER BY starts_at, id LIMIT ?",
            (to_db(since), limit),
        )
        return [_event(r) for r in rows]

    async def all_events(self) -> list[Event]:
        rows = await self._all("SELECT * FROM events ORDER BY starts_at, id")
        return [_event(r) for r in rows]

    async def set_status(self, event_id: int, status: EventStatus, now: datetime) -> None:
        await self._run(
            "UPDATE events SET status = ?, updated_at = ? WHERE id = ?", (status, to_db(now), event_id)
        )


def _same(old: EventDraft, new: EventDraft) -> bool:
    """Equal in everything saved on an update (the status and source stay as they are)."""
    keep = {"status": old.status, "source": old.source}
    normal = None if new.reminder_offsets is None else tuple(sorted(set(new.reminder_offsets), reverse=True))
    return old == EventDraft(**{**new.__dict__, **keep, "reminder_offsets": normal})
