"""Salons, seminars and symposia citizens can sign up for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from storage.base import Repository, db_value, from_row
from storage.timefmt import to_db

EventStatus = Literal["open", "closed", "cancelled"]


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


class EventRepository(Repository):
    async def upsert(self, draft: EventDraft, now: datetime) -> Event:
        """Insert, or update the event with the same uid (re-importing a file changes, never duplicates)."""
        values = {k: db_value(v) for k, v in draft.__dict__.items()}
        columns = ", ".join(values)
        marks = ", ".join(f":{k}" for k in values)
        updates = ", ".join(f"{k} = excluded.{k}" for k in values if k != "uid")
        await self._run(
            f"INSERT INTO events ({columns}, created_at, updated_at) VALUES ({marks}, :now, :now)"
            f" ON CONFLICT (uid) DO UPDATE SET {updates}, updated_at = :now",
            {**values, "now": to_db(now)},
        )
        event = await self.by_uid(draft.uid)
        assert event is not None
        return event

    async def get(self, event_id: int) -> Event | None:
        row = await self._one("SELECT * FROM events WHERE id = ?", (event_id,))
        return None if row is None else from_row(Event, row)

    async def by_uid(self, uid: str) -> Event | None:
        row = await self._one("SELECT * FROM events WHERE uid = ?", (uid,))
        return None if row is None else from_row(Event, row)

    async def upcoming(self, now: datetime, limit: int = 50) -> list[Event]:
        rows = await self._all(
            "SELECT * FROM events WHERE starts_at >= ? AND status != 'cancelled' ORDER BY starts_at LIMIT ?",
            (to_db(now), limit),
        )
        return [from_row(Event, r) for r in rows]

    async def set_status(self, event_id: int, status: EventStatus, now: datetime) -> None:
        await self._run(
            "UPDATE events SET status = ?, updated_at = ? WHERE id = ?", (status, to_db(now), event_id)
        )
