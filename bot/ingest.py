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
                await self._settle(batches)
            finally:
                for _ in batches:
                    self._queue.task_done()

    async def _settle(self, batches: list[_Batch]) -> None:
        """Commit the batches together; if that fails, each alone, so only a culprit gets the error."""
        try:
            added = await self._commit(batches)
        except Exception as exc:
            if len(batches) == 1:
                log.error("ingest.commit_failed", extra=fields(batches=1, error=type(exc).__name__))
                _settle_one(batches[0][1], exc)
                return
            log.warning(
                "ingest.group_commit_failed", extra=fields(batches=len(batches), error=type(exc).__name__)
            )
            for batch in batches:
                await self._settle([batch])
            return
        for (_, done), count in zip(batches, added, strict=True):
            _settle_one(done, count)
        if self._on_stored is not None and any(added):
            self._on_stored()

    async def _commit(self, batches: list[_Batch]) -> list[int]:
        now = self._clock()
        # Urgent: each of these batches is a webhook request waiting for its 200.
        async with self._db.transaction(urgent=True) as tx:
            return [await tx.inbox.add(events, now) for events, _ in batches]


def _settle_one(done: asyncio.Future[int], outcome: int | BaseException) -> None:
    if done.done():
        return  # the request went away (client disconnect): nobody waits for this answer
    if isinstance(outcome, BaseException):
        done.set_exception(outcome)
    else:
        done.set_result(outcome)
