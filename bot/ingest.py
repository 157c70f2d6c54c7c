"""Group commit for inbound events: many webhook requests, one transaction.

Each request hands its events over and waits until they are committed; whatever has queued up
meanwhile is committed at once (bot/group_commit.py). The durability is the same as one commit per
request, at several times the throughput (see docs/line.md and bench/).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from bot.clock import Clock
from bot.group_commit import GroupCommit
from storage import Database, Repositories
from storage.inbox import IncomingEvent

log = logging.getLogger("madoguchi.ingest")


class Ingest:
    def __init__(self, db: Database, clock: Clock, on_stored: Callable[[], None] | None = None) -> None:
        self._clock = clock
        self._on_stored = on_stored
        # Urgent: each of these batches is a webhook request waiting for its 200.
        self._group: GroupCommit[Sequence[IncomingEvent], int] = GroupCommit(
            db, self._add, name="ingest", log=log, urgent=True
        )
        self._running = False

    def start(self) -> None:
        self._running = True

    async def stop(self) -> None:
        """Commit what is queued; take nothing more."""
        self._running = False
        await self._group.drain()

    async def store(self, events: Sequence[IncomingEvent]) -> int:
        """Return once the events are committed: the number that were new (duplicates are skipped)."""
        if not events:
            return 0
        if not self._running:
            raise RuntimeError("ingest is not running")
        added = await self._group.submit(events)
        if added and self._on_stored is not None:
            self._on_stored()
        return added

    async def _add(self, tx: Repositories, events: Sequence[IncomingEvent]) -> int:
        return await tx.inbox.add(events, self._clock())
