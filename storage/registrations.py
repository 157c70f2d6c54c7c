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
    # The place asked for on the event's waitlist (migration 0012): ordering only, see `position`.
    waitlist_seq: int | None = None
    # The time slot held at a consultation session, and the consultation linked to it (migration 0014).
    slot_id: int | None = None
    case_id: int | None = None


# What registering did: a seat, a place on the waitlist, nothing new (already signed up or waiting),
# or nothing possible (the event is not open for sign-ups: cancelled, closed, started, past its deadline).
Outcome = Literal["registered", "waitlisted", "already", "closed"]
# What booking a slot did: booked it, found it taken (by someone else, a moment before), found the
# citizen holding a slot of the event already, or nothing possible (the event is not open).
BookOutcome = Literal["booked", "taken", "already", "closed"]

# A seat is free when the event has no capacity or fewer seats taken than its capacity. Nobody who asks
# now gets a seat ahead of those already waiting.
_SEAT_FREE = """(e.capacity IS NULL OR e.capacity > (SELECT coalesce(sum(t.party_size), 0) FROM registrations t
     WHERE t.event_id = e.id AND t.status = 'registered'))"""
_OPEN = """e.status = 'open' AND e.starts_at > :now
    AND (e.registration_deadline IS NULL OR e.registration_deadline >= :now)"""
# An event with time slots seats nobody without a slot: its free seats are its free slots.
_HAS_SLOTS = "EXISTS (SELECT 1 FROM event_slots s WHERE s.event_id = e.id)"
_FREE_SLOT = """(SELECT s.id FROM event_slots s WHERE s.event_id = :event
    AND NOT EXISTS (SELECT 1 FROM registrations b WHERE b.slot_id = s.id)
    ORDER BY s.starts_at, s.track, s.id LIMIT 1)"""


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

    async def register(
        self, event_id: int, user_id: int, now: datetime
    ) -> tuple[Outcome, Registration | None]:
        """Sign a citizen up for an open event: a seat if one is free and nobody is waiting, else the
        next place on the waitlist. One conditional INSERT decides, inside the caller's write
        transaction, so two citizens asking for the last seat at once cannot both get it. A citizen
        who cancelled earlier asks again as anyone would (their row is reused). At an event with time
        slots this only ever waitlists: a seat there is a slot, taken with `book`."""
        await self._run(
            f"""WITH seat AS (
                SELECT e.id AS event_id,
                    CASE WHEN {_SEAT_FREE} AND NOT {_HAS_SLOTS} AND NOT EXISTS (SELECT 1 FROM registrations w
                        WHERE w.event_id = e.id AND w.status = 'waitlisted')
                    THEN 'registered' ELSE 'waitlisted' END AS status
                FROM events e WHERE e.id = :event AND {_OPEN})
            INSERT INTO registrations
                (event_id, user_id, status, party_size, waitlist_seq, created_at, updated_at)
            SELECT seat.event_id, :user, seat.status, 1,
                CASE WHEN seat.status = 'waitlisted' THEN (SELECT coalesce(max(q.waitlist_seq), 0) + 1
                    FROM registrations q WHERE q.event_id = seat.event_id) END,
                :now, :now
            FROM seat WHERE true
            ON CONFLICT (event_id, user_id) DO UPDATE SET status = excluded.status,
                party_size = excluded.party_size, waitlist_seq = excluded.waitlist_seq,
                created_at = excluded.created_at, updated_at = excluded.updated_at
            WHERE registrations.status = 'cancelled'""",
            {"event": event_id, "user": user_id, "now": to_db(now)},
        )
        # (sqlite3's rowcount is -1 for a statement starting with WITH: ask SQLite itself.)
        row = await self._one("SELECT changes()")
        changed = row is not None and int(row[0]) > 0
        mine = await self.of(event_id, user_id)
        if changed and mine is not None:
            return ("registered" if mine.status == "registered" else "waitlisted"), mine
        if mine is not None and mine.status != "cancelled":
            return "already", mine
        return "closed", mine

    async def book(
        self, event_id: int, slot_id: int, user_id: int, now: datetime
    ) -> tuple[BookOutcome, Registration | None]:
        """Book one time slot of an open event: one conditional INSERT inside the caller's write
        transaction, and the unique index on slot_id behind it, so of two citizens asking for the same
        slot at once exactly one gets it. A citizen waiting (or who cancelled) books with their row;
        one who holds a slot of the event already keeps it (cancel first to change)."""
        await self._run(
            f"""INSERT INTO registrations
                (event_id, user_id, status, party_size, slot_id, waitlist_seq, created_at, updated_at)
            SELECT e.id, :user, 'registered', 1, s.id, NULL, :now, :now
            FROM events e JOIN event_slots s ON s.event_id = e.id AND s.id = :slot
            WHERE e.id = :event AND {_OPEN} AND {_SEAT_FREE}
                AND NOT EXISTS (SELECT 1 FROM registrations b WHERE b.slot_id = s.id)
            ON CONFLICT (event_id, user_id) DO UPDATE SET status = 'registered',
                slot_id = excluded.slot_id, party_size = 1, waitlist_seq = NULL,
                created_at = excluded.created_at, updated_at = excluded.updated_at
            WHERE registrations.status IN ('cancelled', 'waitlisted')""",
            {"event": event_id, "slot": slot_id, "user": user_id, "now": to_db(now)},
        )
        row = await self._one("SELECT changes()")
        mine = await self.of(event_id, user_id)
        if row is not None and int(row[0]) > 0 and mine is not None:
            return "booked", mine
        if mine is not None and mine.status == "registered":
            return "already", mine
        opened = await self._one(
            f"SELECT 1 FROM events e JOIN event_slots s ON s.event_id = e.id AND s.id = :slot"
            f" WHERE e.id = :event AND {_OPEN}",
            {"event": event_id, "slot": slot_id, "now": to_db(now)},
        )
        return ("taken" if opened is not None else "closed"), mine

    async def cancel(self, event_id: int, user_id: int, now: datetime) -> Registration | None:
        """Cancel a sign-up or a place on the waitlist: the registration as it was, or None when there
        was nothing to cancel (one conditional UPDATE: a double tap cancels once). A booked slot is
        freed."""
        before = await self.of(event_id, user_id)
        changed = await self._run(
            "UPDATE registrations SET status = 'cancelled', waitlist_seq = NULL, slot_id = NULL,"
            " updated_at = ?"
            " WHERE event_id = ? AND user_id = ? AND status IN ('registered', 'waitlisted')",
            (to_db(now), event_id, user_id),
        )
        return before if changed else None

    async def promote(self, event_id: int, now: datetime) -> list[Registration]:
        """Give the seats that are free to the first on the waitlist, in order; the promoted ones. At
        an event with time slots, a seat is the first free slot (the promoted learn its time)."""
        promoted: list[Registration] = []
        while True:
            row = await self._one(
                f"""UPDATE registrations SET status = 'registered', waitlist_seq = NULL, updated_at = :now,
                    slot_id = {_FREE_SLOT}
                WHERE id = (SELECT w.id FROM registrations w WHERE w.event_id = :event
                            AND w.status = 'waitlisted' ORDER BY w.waitlist_seq, w.id LIMIT 1)
                AND EXISTS (SELECT 1 FROM events e WHERE e.id = :event AND e.status = 'open'
                            AND e.starts_at > :now AND {_SEAT_FREE}
                            AND (NOT {_HAS_SLOTS} OR {_FREE_SLOT} IS NOT NULL))
                RETURNING *""",
                {"event": event_id, "now": to_db(now)},
            )
            if row is None:
                return promoted
            promoted.append(from_row(Registration, row))

    async def position(self, registration: Registration) -> int | None:
        """The place on the waitlist (1 = next to get a seat), or None when not waiting."""
        if registration.status != "waitlisted" or registration.waitlist_seq is None:
            return None
        row = await self._one(
            "SELECT count(*) FROM registrations WHERE event_id = ? AND status = 'waitlisted'"
            " AND waitlist_seq <= ?",
            (registration.event_id, registration.waitlist_seq),
        )
        assert row is not None
        return int(row[0])

    async def of(self, event_id: int, user_id: int) -> Registration | None:
        row = await self._one(
            "SELECT * FROM registrations WHERE event_id = ? AND user_id = ?", (event_id, user_id)
        )
        return None if row is None else from_row(Registration, row)

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
