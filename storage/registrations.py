"""Citizens' sign-ups for events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from storage.base import Repository, from_row
from storage.timefmt import to_db

RegistrationStatus = Literal["registered", "waitlisted", "cancelled"]


@dataclass(frozen=True)
class Registration:
    id: int
    event_id: int
    user_id: int
    status: RegistrationStatus
    party_size: int
    created_at: datetime
    updated_at: datetime


class RegistrationRepository(Repository):
    async def put(
        self, event_id: int, user_id: int, status: RegistrationStatus, party_size: int, now: datetime
    ) -> Registration:
        """Sign up, or change an existing sign-up: one row per citizen and event."""
        await self._run(
            "INSERT INTO registrations (event_id, user_id, status, party_size, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (event_id, user_id) DO UPDATE SET"
            " status = excluded.status, party_size = excluded.party_size, updated_at = excluded.updated_at",
            (event_id, user_id, status, party_size, to_db(now), to_db(now)),
        )
        row = await self._one(
            "SELECT * FROM registrations WHERE event_id = ? AND user_id = ?", (event_id, user_id)
        )
        assert row is not None
        return from_row(Registration, row)

    async def get(self, registration_id: int) -> Registration | None:
        row = await self._one("SELECT * FROM registrations WHERE id = ?", (registration_id,))
        return None if row is None else from_row(Registration, row)

    async def for_user(self, user_id: int) -> list[Registration]:
        rows = await self._all("SELECT * FROM registrations WHERE user_id = ? ORDER BY id", (user_id,))
        return [from_row(Registration, r) for r in rows]

    async def for_event(self, event_id: int) -> list[Registration]:
        rows = await self._all("SELECT * FROM registrations WHERE event_id = ? ORDER BY id", (event_id,))
        return [from_row(Registration, r) for r in rows]

    async def seats_taken(self, event_id: int) -> int:
        row = await self._one(
            "SELECT coalesce(sum(party_size), 0) FROM registrations WHERE event_id = ? AND status = 'registered'",
            (event_id,),
        )
        assert row is not None
        return int(row[0])

    async def delete_for_user(self, user_id: int) -> int:
        """Deletion on request: the citizen's sign-ups go (their reminders with them)."""
        return await self._run("DELETE FROM registrations WHERE user_id = ?", (user_id,))
