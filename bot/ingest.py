"""Group commit for inbound events: many webhook requests, one transaction.

Each request hands its events over and waits until they are committed; a single writer task takes
whatever has queued up meanwhile and commits it all at once. The durability is the same as one
commit per request, at several times the throughput (see docs/line.md and bench/).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

from bot.clock import Clock
from bot.logs import fields
from storage import Database
from storage.inbox import IncomingEvent

log = logging.getLogger("madoguchi.ingest")

_Batch = tuple[Sequence[IncomingEvent], asyncio.Future[int]]


class Ingest:
    def __init__(self, db: Database, clock: Clock, on_stored: Callable[[], None] | None = None) -> None:
        self._db = db
        self._clock = clock
        self._on_stored = on_stored
        self._queue: asyncio.Queue[_Batch] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write_forever(), name="ingest-writer")

    async def stop(self) -> None:
        """Commit what is queued, then stop the writer."""
        if self._writer is None:
            return
        await self._queue.join()
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer
        self._writer = None

    async def store(self, events: Sequence[IncomingEvent]) -> int:
        """Return once the events are committed: the number that were new (duplicates are skipped)."""
        if not events:
            return 0
        if self._writer is None:
            raise RuntimeError("ingest is not running")
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        await self._queue.put((events, done))
        return await done

    async def _write_forever(self) -> None:
        while True:
            batches = [await self._queue.get()]
            while not self._queue.empty():
                batches.append(self._queue.get_nowait())
            try:
                added = await self._commit(batches)
            except Exception as exc:
                log.exception("ingest.commit_failed", extra=fields(batches=len(batches)))
                for _, done in batches:
                    if not done.done():
                        done.set_exception(exc)
            else:
                for (_, done), count in zip(batches, added, strict=True):
                    if not done.done():
                        done.set_result(count)
                if self._on_stored is not None and any(added):
                    self._on_stored()
            finally:
                for _ in batches:
                    self._queue.task_done()

    async def _commit(self, batches: list[_Batch]) -> list[int]:
        now = self._clock()
        # Urgent: each of these batches is a webhook request waiting for its 200.
        async with self._db.transaction(urgent=True) as tx:
            return [await tx.inbox.add(events, now) for events, _ in batches]
