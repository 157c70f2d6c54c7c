"""Time slots of consultation sessions (市民協働相談会, 士業相談会) and the bookings that hold them.

An event with a slot plan (`slot_count` slots per advisor, `slot_minutes` each, `slot_break` minutes
between, from the event's start) has one row per slot in event_slots. A booking is the citizen's
registration with `slot_id` set (storage.registrations.book): the unique index on that column lets a
slot hold one booking, the registrations' UNIQUE (event_id, user_id) one slot per citizen and event.
Changing the plan keeps every slot that stays the same (same start, end and advisor) with its
booking, and refuses (`SlotsBooked`) to drop or move one that is booked.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.base import Repository, from_row
from storage.timefmt import to_db

MAX_SLOTS = 12  # a LINE question offers at most 13 quick replies: the slots and 一覧に戻る
MAX_ADVISORS = 3
# Advisors are listed in one field: 税理士、社会保険労務士 (or with , ; / between).
_ADVISOR_SPLIT = re.compile(r"\s*[、,;／/，；]\s*")


@dataclass(frozen=True)
class SlotTimes:
    """A slot as planned: its times and advisor (the label staff gave, or '')."""

    starts_at: datetime
    ends_at: datetime
    advisor: str = ""
    track: int = 0

    @property
    def key(self) -> tuple[datetime, datetime, str]:
        return (self.starts_at, self.ends_at, self.advisor)


@dataclass(frozen=True)
class Slot:
    id: int
    event_id: int
    starts_at: datetime
    ends_at: datetime
    advisor: str
    track: int
    # The booking holding it (None: free), and the consultation linked to that booking.
    registration_id: int | None = None
    user_id: int | None = None
    case_id: int | None = None
    case_number: str | None = None

    @property
    def free(self) -> bool:
        return self.registration_id is None

    @property
    def key(self) -> tuple[datetime, datetime, str]:
        return (self.starts_at, self.ends_at, self.advisor)


class SlotsBooked(Exception):
    """A change of an event's slots would drop or move these booked slots: refused."""

    def __init__(self, booked: Sequence[Slot]) -> None:
        super().__init__(f"{len(booked)} booked slot(s) would change")
        self.booked = list(booked)


class SeatsWithoutSlots(Exception):
    """Slots for an event that has sign-ups without a time: refused. Those sign-ups would hold no slot
    (no time, not in the staff's slot list) while every slot was offered again: oversold."""

    def __init__(self, count: int) -> None:
        super().__init__(f"{count} sign-up(s) hold no slot")
        self.count = count


def split_advisors(text: str) -> tuple[str, ...]:
    """税理士、社会保険労務士 as its labels (empty parts dropped)."""
    return tuple(p for p in _ADVISOR_SPLIT.split(text.strip()) if p)


def plan(starts_at: datetime, count: int, minutes: int, break_minutes: int, advisors: str) -> list[SlotTimes]:
    """The slots a plan makes: `count` one after the other from the start, each `minutes` long with
    `break_minutes` between; with several advisors, one slot per advisor at each time (in parallel)."""
    if count <= 0 or minutes <= 0:
        return []
    labels = split_advisors(advisors) or ("",)
    step = timedelta(minutes=minutes + break_minutes)
    found: list[SlotTimes] = []
    for number in range(count):
        start = starts_at + number * step
        for track, label in enumerate(labels):
            found.append(SlotTimes(start, start + timedelta(minutes=minutes), label, track))
    return found


_SELECT = """SELECT s.*, r.id AS registration_id, r.user_id AS user_id, r.case_id AS case_id,
    c.number AS case_number
    FROM event_slots s
    LEFT JOIN registrations r ON r.slot_id = s.id AND r.status = 'registered'
    LEFT JOIN cases c ON c.id = r.case_id"""
_ORDER = " ORDER BY s.starts_at, s.track, s.id"


class SlotRepository(Repository):
    async def for_event(self, event_id: int) -> list[Slot]:
        """The event's slots in order (by time, then advisor), each with its booking if any."""
        rows = await self._all(f"{_SELECT} WHERE s.event_id = ?{_ORDER}", (event_id,))
        return [from_row(Slot, r) for r in rows]

    async def get(self, slot_id: int) -> Slot | None:
        row = await self._one(f"{_SELECT} WHERE s.id = ?", (slot_id,))
        return None if row is None else from_row(Slot, row)

    async def held_by(self, event_id: int, user_id: int) -> Slot | None:
        """The slot the citizen has booked at the event, if any."""
        row = await self._one(f"{_SELECT} WHERE s.event_id = ? AND r.user_id = ?", (event_id, user_id))
        return None if row is None else from_row(Slot, row)

    async def for_case(self, case_id: int) -> Slot | None:
        """The booked slot a consultation is linked to (for the case card)."""
        row = await self._one(f"{_SELECT} WHERE r.case_id = ?", (case_id,))
        return None if row is None else from_row(Slot, row)

    async def lost_by(self, event_id: int, wanted: Sequence[SlotTimes]) -> list[Slot]:
        """The booked slots a new plan would drop or move (empty: the change may be saved)."""
        keep = {w.key for w in wanted}
        return [s for s in await self.for_event(event_id) if not s.free and s.key not in keep]

    async def seats_without_slot(self, event_id: int) -> int:
        """Sign-ups holding a seat but no slot (made before the event had slots)."""
        row = await self._one(
            "SELECT count(*) FROM registrations WHERE event_id = ? AND status = 'registered' AND slot_id IS NULL",
            (event_id,),
        )
        assert row is not None
        return int(row[0])

    async def sync(self, event_id: int, wanted: Sequence[SlotTimes]) -> None:
        """Make the event's slots the planned ones: a slot that stays keeps its row (and booking), the
        others go, new ones are added. SlotsBooked, before anything changes, when a booked one would go."""
        lost = await self.lost_by(event_id, wanted)
        if lost:
            raise SlotsBooked(lost)
        existing = {s.key: s for s in await self.for_event(event_id)}
        keep = {w.key for w in wanted}
        for key, slot in existing.items():
            if key not in keep:
                await self._run("DELETE FROM event_slots WHERE id = ?", (slot.id,))
        for times in wanted:
            known = existing.get(times.key)
            if known is not None:
                if known.track != times.track:
                    await self._run("UPDATE event_slots SET track = ? WHERE id = ?", (times.track, known.id))
                continue
            await self._insert(
                "event_slots",
                {
                    "event_id": event_id,
                    "starts_at": times.starts_at,
                    "ends_at": times.ends_at,
                    "advisor": times.advisor,
                    "track": times.track,
                },
            )

    async def link_case(self, user_id: int, case_id: int, now: datetime) -> Slot | None:
        """Link a new consultation to the citizen's next booked slot still to come that has no open
        consultation linked yet (the advisor then sees it beforehand); the slot, or None."""
        row = await self._one(
            """UPDATE registrations SET case_id = :case, updated_at = :now WHERE id = (
                SELECT r.id FROM registrations r
                JOIN event_slots s ON s.id = r.slot_id
                JOIN events e ON e.id = r.event_id
                WHERE r.user_id = :user AND r.status = 'registered' AND e.status != 'cancelled'
                    AND s.starts_at > :now
                    AND (r.case_id IS NULL OR EXISTS (SELECT 1 FROM cases c
                        WHERE c.id = r.case_id AND c.status = 'closed'))
                ORDER BY s.starts_at, s.id LIMIT 1)
            RETURNING slot_id""",
            {"case": case_id, "user": user_id, "now": to_db(now)},
        )
        return None if row is None else await self.get(int(row[0]))

    async def link_booking(self, event_id: int, user_id: int, case_id: int, now: datetime) -> Slot | None:
        """Link a consultation the citizen sent before to their booking at this event; the slot, or
        None when they hold none (cancelled meanwhile)."""
        row = await self._one(
            "UPDATE registrations SET case_id = :case, updated_at = :now WHERE event_id = :event"
            " AND user_id = :user AND status = 'registered' AND slot_id IS NOT NULL RETURNING slot_id",
            {"case": case_id, "event": event_id, "user": user_id, "now": to_db(now)},
        )
        return None if row is None else await self.get(int(row[0]))

    async def recipients(self, event_id: int) -> list[tuple[Slot, list[str]]]:
        """Each booked slot with the LINE user id of its holder, when they still follow the account:
        a slot's reminder names the slot's own time."""
        rows = await self._all(
            "SELECT s.id, u.line_user_id FROM event_slots s"
            " JOIN registrations r ON r.slot_id = s.id AND r.status = 'registered'"
            f" JOIN users u ON u.id = r.user_id WHERE s.event_id = ? AND u.following = 1{_ORDER}",
            (event_id,),
        )
        slots = {s.id: s for s in await self.for_event(event_id)}
        return [(slots[int(r[0])], [str(r[1])]) for r in rows]
