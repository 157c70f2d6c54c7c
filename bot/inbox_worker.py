"""Handles stored inbound events: one at a time per order key (a user), different keys in parallel.

Each event is handled in one transaction together with marking it done, so an event is handled
exactly once even when the process dies: before the commit nothing of it happened, after it the
event is no longer pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from bot.clock import Clock
from bot.logs import fields
from storage import Database, Repositories
from storage.inbox import InboxItem

log = logging.getLogger("madoguchi.inbox")

POLL_SECONDS = 5.0
MAX_TRIES = 3


class InboxHandler(Protocol):
    async def prepare(self, item: InboxItem) -> Any:
        """Network look-ups the event needs (profile, content), outside any transaction."""

    async def apply(self, item: InboxItem, prepared: Any, tx: Repositories) -> None:
        """The event's whole effect: state changes and outbox rows, in the caller's transaction."""


class InboxWorker:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        handlers: Mapping[str, InboxHandler],
        *,
        on_handled: Callable[[], None] | None = None,
        concurrency: int = 32,
    ) -> None:
        self._db = db
        self._clock = clock
        self._handlers = handlers
        self._on_handled = on_handled
        self._slots = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        self._cursor = 0
        self._queues: dict[str, deque[InboxItem]] = {}
        self._runners: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._run(), name="inbox-worker")

    async def stop(self) -> None:
        """Stop taking events; finish the one each key is handling. The rest stay pending for next start."""
        self._stopping = True
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        if self._runners:
            await asyncio.gather(*self._runners, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self._fetch()
            except Exception:
                log.exception("inbox.fetch_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)

    async def _fetch(self) -> None:
        while True:
            items = await self._db.read.inbox.pending(after_id=self._cursor)
            if not items:
                return
            for item in items:
                self._cursor = item.id
                queue = self._queues.get(item.order_key)
                if queue is None:
                    self._queues[item.order_key] = deque([item])
                    runner = asyncio.create_task(self._drain(item.order_key), name=f"inbox-{item.order_key}")
                    self._runners.add(runner)
                    runner.add_done_callback(self._runners.discard)
                else:
                    queue.append(item)

    async def _drain(self, order_key: str) -> None:
        queue = self._queues[order_key]
        try:
            while queue and not self._stopping:
                await self._handle(queue[0])
                queue.popleft()
        finally:
            # When stopping, items left in the queue are still pending in storage for the next start.
            del self._queues[order_key]

    async def _handle(self, item: InboxItem) -> None:
        handler = self._handlers.get(item.source)
        async with self._slots:
            for attempt in range(1, MAX_TRIES + 1):
                try:
                    if handler is None:
                        raise LookupError(f"no handler for source {item.source!r}")
                    prepared = await handler.prepare(item)
                    async with self._db.transaction() as tx:
                        await handler.apply(item, prepared, tx)
                        await tx.inbox.mark_done(item.id, self._clock())
                    break
                except Exception as exc:
                    log.exception(
                        "inbox.handle_failed", extra=fields(id=item.id, source=item.source, attempt=attempt)
                    )
                    if attempt == MAX_TRIES:
                        async with self._db.transaction() as tx:
                            await tx.inbox.mark_failed(item.id, type(exc).__name__, self._clock())
                    else:
                        await asyncio.sleep(0.05 * attempt)
        if self._on_handled is not None:
            self._on_handled()
