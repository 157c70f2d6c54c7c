"""Reminders: the table is the source of truth; the scheduler is only the alarm clock.

A due reminder is claimed with a conditional UPDATE inside the transaction that also writes its
messages to the outbox, so a restart neither loses nor repeats one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from storage.base import Repository, from_row
from storage.timefmt import from_db, to_db

# 'missed': its time passed while the bot was down and the event had started by then (migration 0013).
ReminderStatus = Literal["pending", "done", "cancelled", "missed"]
# An event's reminders: one row per offset before its start.
EVENT_REMINDER = "event"


@dataclass(frozen=True)
class EventForReminders:
    """What reminders need of an event; `offsets` is the event's own reminder-offsets value as stored
    (None when the events table has no such column yet, or the event has none)."""

    id: int
    starts_at: datetime
    status: str
    offsets: Any


@dataclass(frozen=True)
class Reminder:
    id: int
    kind: str
    due_at: datetime
    status: ReminderStatus
    event_id: int | None
    registration_id: int | None
    case_id: int | None
    notice_id: int | None
    created_at: datetime
    claimed_at: datetime | None
    offset_seconds: int | None = None


class ReminderRepository(Repository):
    async def add(
        self,
        kind: str,
        due_at: datetime,
        now: datetime,
        *,
        event_id: int | None = None,
        registration_id: int | None = None,
        case_id: int | None = None,
        notice_id: int | None = None,
    ) -> Reminder:
        reminder_id = await self._insert(
            "reminders",
            {
                "kind": kind,
                "due_at": due_at,
                "event_id": event_id,
                "registration_id": registration_id,
                "case_id": case_id,
                "notice_id": notice_id,
                "created_at": now,
            },
        )
        reminder = await self.get(reminder_id)
        assert reminder is not None
        return reminder

    async def get(self, reminder_id: int) -> Reminder | None:
        row = await self._one("SELECT * FROM reminders WHERE id = ?", (reminder_id,))
        return None if row is None else from_row(Reminder, row)

    async def pending(self, due_before: datetime | None = None) -> list[Reminder]:
        if due_before is None:
            rows = await self._all("SELECT * FROM reminders WHERE status = 'pending' ORDER BY due_at, id")
        else:
            rows = await self._all(
                "SELECT * FROM reminders WHERE status = 'pending' AND due_at <= ? ORDER BY due_at, id",
                (to_db(due_before),),
            )
        return [from_row(Reminder, r) for r in rows]

    async def earliest_pending_due(self) -> datetime | None:
        """When the earliest pending reminder is due (None when none is pending): one row, read by the
        (status, due_at) index, however many are pending (a /metrics scrape asks at each scrape)."""
        row = await self._one("SELECT due_at FROM reminders WHERE status = 'pending' ORDER BY due_at LIMIT 1")
        return None if row is None else from_db(row["due_at"])

    async def claim(self, reminder_id: int, now: datetime) -> bool:
        """Take a pending reminder for sending; False when someone else already did."""
        changed = await self._run(
            "UPDATE reminders SET status = 'done', claimed_at = ? WHERE id = ? AND status = 'pending'",
            (to_db(now), reminder_id),
        )
        return changed == 1

    async def cancel(self, reminder_id: int) -> bool:
        changed = await self._run(
            "UPDATE reminders SET status = 'cancelled' WHERE id = ? AND status = 'pending'", (reminder_id,)
        )
        return changed == 1

    async def settle(self, reminder_id: int, status: ReminderStatus, now: datetime) -> bool:
        """Move a pending reminder that is due to `status` (done, missed, cancelled); False when it was
        no longer pending, or is no longer due (the event was moved since it was read as due).

        The conditional UPDATE is the claim: of two processes or ticks, exactly one changes the row.
        """
        now_text = to_db(now)
        changed = await self._run(
            "UPDATE reminders SET status = ?, claimed_at = ? WHERE id = ? AND status = 'pending' AND due_at <= ?",
            (status, now_text, reminder_id, now_text),
        )
        return changed == 1

    async def ensure_for_event(
        self, event_id: int, starts_at: datetime, offsets: Iterable[timedelta], now: datetime
    ) -> int:
        """Create the event's missing reminders whose time is still ahead; returns how many were created.

        Existing rows (whatever their status) are left alone, so calling this again is a no-op.
        """
        created = 0
        for offset in offsets:
            due = starts_at - offset
            if due <= now:
                continue
            created += await self._run(
                "INSERT OR IGNORE INTO reminders (kind, due_at, event_id, offset_seconds, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (EVENT_REMINDER, to_db(due), event_id, int(offset.total_seconds()), to_db(now)),
            )
        return created

    async def cancel_other_offsets(self, event_id: int, offsets: Iterable[timedelta]) -> int:
        """The event's offsets changed: its pending reminders at offsets no longer wanted are cancelled."""
        keep = {int(o.total_seconds()) for o in offsets}
        cancelled = 0
        for reminder in await self.for_event(event_id):
            if reminder.status == "pending" and reminder.offset_seconds not in keep:
                cancelled += await self._run(
                    "UPDATE reminders SET status = 'cancelled' WHERE id = ? AND status = 'pending'",
                    (reminder.id,),
                )
        return cancelled

    async def for_event(self, event_id: int) -> list[Reminder]:
        rows = await self._all(
            "SELECT * FROM reminders WHERE event_id = ? AND kind = ? ORDER BY due_at, id",
            (event_id, EVENT_REMINDER),
        )
        return [from_row(Reminder, r) for r in rows]

    async def cancel_for_event(self, event_id: int) -> int:
        """Every pending reminder of the event is cancelled; returns how many."""
        return await self._run(
            "UPDATE reminders SET status = 'cancelled' WHERE event_id = ? AND status = 'pending'", (event_id,)
        )

    async def reschedule_for_event(
        self, event_id: int, starts_at: datetime, now: datetime, *, rearm_settled: bool = True
    ) -> int:
        """The event's start moved: each reminder is due its offset before the new start, pending again
        (it reminded of the old time; only with `rearm_settled`) when that is still ahead, else
        cancelled if it was pending. Returns how many are pending now."""
        for reminder in await self.for_event(event_id):
            if reminder.offset_seconds is None:
                continue
            due = starts_at - timedelta(seconds=reminder.offset_seconds)
            if due == reminder.due_at or (reminder.status != "pending" and not rearm_settled):
                continue
            if due > now:
                await self._run(
                    "UPDATE reminders SET due_at = ?, status = 'pending', claimed_at = NULL WHERE id = ?",
                    (to_db(due), reminder.id),
                )
            else:
                await self._run(
                    "UPDATE reminders SET due_at = ?, status = 'cancelled' WHERE id = ? AND status = 'pending'",
                    (to_db(due), reminder.id),
                )
        row = await self._one(
            "SELECT count(*) FROM reminders WHERE event_id = ? AND status = 'pending'", (event_id,)
        )
        assert row is not None
        return int(row[0])

    async def event(self, event_id: int) -> EventForReminders | None:
        row = await self._one("SELECT * FROM events WHERE id = ?", (event_id,))
        return None if row is None else _event(row)

    async def events_ahead(self, now: datetime) -> list[EventForReminders]:
        """Events not cancelled that start after `now`: those that may need reminders."""
        rows = await self._all(
            "SELECT * FROM events WHERE starts_at > ? AND status != 'cancelled' ORDER BY starts_at",
            (to_db(now),),
        )
        return [_event(r) for r in rows]

    async def recipients(self, event_id: int, statuses: Sequence[str] = ("registered",)) -> list[str]:
        """LINE user ids of the event's sign-ups with these statuses who still follow the account,
        in sign-up order."""
        marks = ", ".join("?" for _ in statuses)
        rows = await self._all(
            "SELECT u.line_user_id FROM registrations r JOIN users u ON u.id = r.user_id"
            f" WHERE r.event_id = ? AND r.status IN ({marks}) AND u.following = 1 ORDER BY r.id",
            (event_id, *statuses),
        )
        return [str(r[0]) for r in rows]

    async def still_following(self, line_user_ids: list[str]) -> list[str]:
        """Those of these LINE users who still follow the account (unknown ids are kept), in order."""
        gone: set[str] = set()
        for start in range(0, len(line_user_ids), 500):
            chunk = line_user_ids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            rows = await self._all(
                f"SELECT line_user_id FROM users WHERE following = 0 AND line_user_id IN ({marks})", chunk
            )
            gone.update(str(r[0]) for r in rows)
        return [u for u in line_user_ids if u not in gone]


def _event(row: Any) -> EventForReminders:
    keys = row.keys()
    return EventForReminders(
        id=int(row["id"]),
        starts_at=from_db(row["starts_at"]),
        status=str(row["status"]),
        offsets=row["reminder_offsets"] if "reminder_offsets" in keys else None,
    )
