"""Inbound platform events, stored before they are acknowledged and handled after."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from storage.base import Repository, from_row
from storage.timefmt import to_db

InboxStatus = Literal["pending", "done", "failed"]


@dataclass(frozen=True)
class IncomingEvent:
    """What a webhook hands over: `event_id` deduplicates, `order_key` serialises (one user's events)."""

    source: str
    event_id: str
    order_key: str
    payload: str


@dataclass(frozen=True)
class InboxItem:
    id: int
    source: str
    event_id: str
    order_key: str
    payload: str
    status: InboxStatus
    attempts: int
    error: str | None
    received_at: datetime
    processed_at: datetime | None


class InboxRepository(Repository):
    async def add(self, events: Sequence[IncomingEvent], now: datetime) -> int:
        """Store events; duplicates of stored ones are ignored. Returns how many were new."""
        added = 0
        for event in events:
            added += await self._run(
                "INSERT INTO inbox (source, event_id, order_key, payload, received_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (source, event_id) DO NOTHING",
                (event.source, event.event_id, event.order_key, event.payload, to_db(now)),
            )
        return added

    async def record_handled(self, source: str, event_id: str, order_key: str, now: datetime) -> bool:
        """Remember an event handled on arrival (a Slack action): False if it was seen before."""
        added = await self._run(
            "INSERT INTO inbox (source, event_id, order_key, payload, status, received_at, processed_at, attempts)"
            " VALUES (?, ?, ?, '{}', 'done', ?, ?, 1) ON CONFLICT (source, event_id) DO NOTHING",
            (source, event_id, order_key, to_db(now), to_db(now)),
        )
        return added == 1

    async def get(self, item_id: int) -> InboxItem | None:
        row = await self._one("SELECT * FROM inbox WHERE id = ?", (item_id,))
        return None if row is None else from_row(InboxItem, row)

    async def for_key(self, order_key: str) -> list[InboxItem]:
        """Every stored event of one chat, oldest first."""
        rows = await self._all("SELECT * FROM inbox WHERE order_key = ? ORDER BY id", (order_key,))
        return [from_row(InboxItem, r) for r in rows]

    async def pending(self, after_id: int = 0, limit: int = 500) -> list[InboxItem]:
        """Unhandled events in arrival order."""
        rows = await self._all(
            "SELECT * FROM inbox WHERE status = 'pending' AND id > ? ORDER BY id LIMIT ?", (after_id, limit)
        )
        return [from_row(InboxItem, r) for r in rows]

    async def mark_done(self, item_id: int, now: datetime) -> bool:
        """Handled: the body (the citizen's message) is cleared; id, times and status stay for dedupe.

        False when the event was no longer pending (handled already): the caller must not handle it.
        """
        changed = await self._run(
            "UPDATE inbox SET status = 'done', payload = '{}', processed_at = ?, attempts = attempts + 1"
            " WHERE id = ? AND status = 'pending'",
            (to_db(now), item_id),
        )
        return changed == 1

    async def mark_failed(self, item_id: int, error: str, now: datetime) -> None:
        await self._run(
            "UPDATE inbox SET status = 'failed', error = ?, processed_at = ?, attempts = attempts + 1"
            " WHERE id = ?",
            (error, to_db(now), item_id),
        )

    async def requeue_failed(self, received_since: datetime) -> int:
        """Put events received since a moment that failed for good back in line (once their cause is
        fixed); returns how many. Events whose bodies were already purged stay failed."""
        return await self._run(
            "UPDATE inbox SET status = 'pending', attempts = 0, error = NULL, processed_at = NULL"
            " WHERE status = 'failed' AND payload <> '{}' AND received_at >= ?",
            (to_db(received_since),),
        )

    async def purge_failed(self, received_before: datetime) -> int:
        """Clear the bodies of events that failed for good and were received before a moment."""
        return await self._run(
            "UPDATE inbox SET payload = '{}' WHERE status = 'failed' AND payload <> '{}' AND received_at < ?",
            (to_db(received_before),),
        )

    async def purge_handled(self, received_before: datetime, limit: int) -> int:
        """Delete the rows of events handled that were received before a moment, the oldest `limit`
        of them: webhooks and the Slack actions recorded on arrival (button presses, App Home
        openings). A row only has to outlive the platform's retries and redeliveries, which come
        within minutes or hours. The newest row always stays: SQLite gives the next row the largest
        id plus one, so ids keep growing and an id never names two events. Returns how many rows were
        deleted (fewer than `limit`: none are left)."""
        return await self._run(
            "DELETE FROM inbox WHERE id IN (SELECT id FROM inbox WHERE status = 'done' AND received_at < ?"
            " AND id < (SELECT max(id) FROM inbox) ORDER BY id LIMIT ?)",
            (to_db(received_before), limit),
        )

    async def forget(self, order_key: str) -> int:
        """Deletion: events of this chat that were handled or failed keep no body (pending ones are
        still to be handled, in order). Returns how many bodies were cleared."""
        return await self._run(
            "UPDATE inbox SET payload = '{}' WHERE order_key = ? AND status <> 'pending' AND payload <> '{}'",
            (order_key,),
        )

    async def count(self, status: InboxStatus) -> int:
        row = await self._one("SELECT count(*) FROM inbox WHERE status = ?", (status,))
        assert row is not None
        return int(row[0])
