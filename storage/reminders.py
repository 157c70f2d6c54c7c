"""Reminders: the table is the source of truth; the scheduler is only the alarm clock.

A due reminder is claimed with a conditional UPDATE inside the transaction that also writes its
messages to the outbox, so a restart neither loses nor repeats one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from storage.base import Repository, from_row
from storage.timefmt import to_db

ReminderStatus = Literal["pending", "done", "cancelled"]


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
