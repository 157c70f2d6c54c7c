"""Handles stored inbound events: one at a time per order key (a user), different keys in parallel.

Each event is handled in the same transaction as marking it done, so an event is handled exactly
once even when the process dies: before the commit nothing of it happened, after it the event is no
longer pending. Events of different keys that are ready together share one transaction (a group
commit, bot/group_commit.py: one commit and one wait for the writer instead of one each), each in a
savepoint of its own, so an event that fails undoes only its own writes and is retried or failed
alone while the others commit. A batch holds at most `concurrency` events, and stops taking more
once a webhook's acknowledgement waits for the writer, which then never waits for more than one
event's handling, as before batching. While webhooks are being acknowledged, a new event's handling
starts only in a gap between them (bot/ingest.py `AckPriority`: 200 ms at most per wait).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from bot.clock import Clock
from bot.group_commit import GroupCommit
from bot.ingest import AckPriority
from bot.logs import fields
from bot.ops_alerts import OpsAlerts
from storage import Database, Repositories
from storage.db import TransactionLost
from storage.inbox import InboxItem

log = logging.getLogger("madoguchi.inbox")

POLL_SECONDS = 5.0
MAX_TRIES = 3
# While storage itself fails (disk full, database locked), an event is retried after this long,
# doubling: it is not the event's fault, so it does not use up its tries and is never marked failed.
STORAGE_RETRY_SECONDS = 0.5
STORAGE_RETRY_MAX_SECONDS = 60.0


class InboxHandler(Protocol):
    async def prepare(self, item: InboxItem) -> Any:
        """Network look-ups the event needs (profile, content), outside any transaction."""

    async def apply(self, item: InboxItem, prepared: Any, tx: Repositories) -> None:
        """The event's whole effect: state changes and outbox rows, in the caller's transaction."""


class _Deferred:
    """Not handled in this transaction: an acknowledgement waits for the writer; the next one takes it."""


_DEFERRED = _Deferred()


@dataclass(frozen=True)
class _Ready:
    """An event prepared outside the transaction, waiting for its turn in a shared one."""

    item: InboxItem
    handler: InboxHandler
    prepared: Any


class InboxWorker:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        handlers: Mapping[str, InboxHandler],
        *,
        on_handled: Callable[[], None] | None = None,
        alerts: OpsAlerts | None = None,
        concurrency: int = 32,
        priority: AckPriority | None = None,
    ) -> None:
        """`concurrency`: events handled at once (network look-ups, then waiting for their commit), so
        also the most events one transaction holds. `priority`: whose acknowledgements go first."""
        self._priority = priority
        self._alerts = alerts
        self._db = db
        self._clock = clock
        self._handlers = handlers
        self._on_handled = on_handled
        self._slots = asyncio.Semaphore(concurrency)
        self._group: GroupCommit[_Ready, Exception | _Deferred | None] = GroupCommit(
            db, self._apply, name="inbox", log=log
        )
        self._open_tx: Repositories | None = None  # the transaction the last event was handled in
        self._wake = asyncio.Event()
        self._cursor = 0
        self._queues: dict[str, deque[InboxItem]] = {}
        self._queued: set[int] = set()
        self._runners: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False
        self._stopped = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._run(), name="inbox-worker")

    async def stop(self) -> None:
        """Stop taking events; finish the one each key is handling. The rest stay pending for next start."""
        self._stopping = True
        self._stopped.set()
        self._wake.set()
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        if self._runners:
            await asyncio.gather(*self._runners, return_exceptions=True)

    async def _run(self) -> None:
        rescanned = time.monotonic()
        # Not `while True`: Python 3.11's wait_for can swallow the stop's cancellation when a wake
        # lands at the same moment, so the loop also ends on the flag.
        while not self._stopping:
            self._wake.clear()
            if time.monotonic() - rescanned >= POLL_SECONDS:
                # Every few seconds, busy or not, look at every pending row again: rows put back by
                # `inbox retry` or left behind by a runner that died sit below the cursor.
                self._cursor = 0
                rescanned = time.monotonic()
            try:
                if self._priority is not None:
                    # One look at the new rows per gap in the acknowledgements, not one per commit.
                    await self._priority.turn()
                await self._fetch()
            except Exception as exc:
                log.error("inbox.fetch_failed", extra=fields(error=type(exc).__name__))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)

    async def _fetch(self) -> None:
        while True:
            items = await self._db.read.inbox.pending(after_id=self._cursor)
            if not items:
                return
            for item in items:
                self._cursor = item.id
                if item.id in self._queued:
                    continue
                self._queued.add(item.id)
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
                self._queued.discard(queue.popleft().id)
        except Exception as exc:
            # A bug of ours, not the event's: its rows are still pending; read them again soon.
            log.error("inbox.runner_died", extra=fields(error=type(exc).__name__))
            self._cursor = 0
            asyncio.get_running_loop().call_later(STORAGE_RETRY_SECONDS, self._wake.set)
        finally:
            # When stopping, items left in the queue are still pending in storage for the next start.
            for item in queue:
                self._queued.discard(item.id)
            del self._queues[order_key]

    async def _handle(self, item: InboxItem) -> None:
        handler = self._handlers.get(item.source)
        storage_failures = 0
        async with self._slots:
            if self._priority is not None:
                # In the slot: at most `concurrency` events start together when a deferral ends.
                await self._priority.turn()
            attempt = 1
            while not self._stopping:
                try:
                    if handler is None:
                        raise LookupError(f"no handler for source {item.source!r}")
                    ready = _Ready(item, handler, await handler.prepare(item))
                    while (failure := await self._group.submit(ready)) is _DEFERRED:
                        pass
                    if isinstance(failure, Exception):
                        raise failure
                    break
                except sqlite3.OperationalError as exc:
                    storage_failures += 1
                    await self._storage_backoff(item, exc, storage_failures)
                except Exception as exc:
                    log.exception(
                        "inbox.handle_failed", extra=fields(id=item.id, source=item.source, attempt=attempt)
                    )
                    if attempt < MAX_TRIES:
                        attempt += 1
                        await asyncio.sleep(0.05 * attempt)
                        continue
                    try:
                        async with self._db.transaction() as tx:
                            await tx.inbox.mark_failed(item.id, type(exc).__name__, self._clock())
                            if self._alerts is not None:
                                await self._alerts.note(
                                    tx, "inbox_failed", id=item.id, error=type(exc).__name__
                                )
                        break
                    except sqlite3.Error as failure:
                        storage_failures += 1
                        await self._storage_backoff(item, failure, storage_failures)
        if self._on_handled is not None:
            self._on_handled()

    async def _apply(self, tx: Repositories, ready: _Ready) -> Exception | _Deferred | None:
        """One event of a shared transaction; returns its failure, whose writes are undone."""
        if tx is self._open_tx and self._db.urgent_waiting():
            return _DEFERRED  # the first event of a transaction always goes: every batch moves on
        self._open_tx = tx
        try:
            async with self._db.savepoint():
                # A rescan can list a row whose handling was committed meanwhile: the writer has
                # the last word on whether it is still to be done.
                if await tx.inbox.mark_done(ready.item.id, self._clock()):
                    await ready.handler.apply(ready.item, ready.prepared, tx)
        except TransactionLost as lost:
            # The others' writes are gone too: failing the group makes it do each event again
            # alone, and alone this one fails with its own error (a try, or storage's backoff).
            raise lost.error from None
        except Exception as exc:
            return exc
        return None

    async def _storage_backoff(self, item: InboxItem, exc: Exception, failures: int) -> None:
        delay = min(STORAGE_RETRY_MAX_SECONDS, STORAGE_RETRY_SECONDS * 2 ** (failures - 1))
        log.error(
            "inbox.storage_failed",
            extra=fields(id=item.id, error=type(exc).__name__, failures=failures, retry_in=round(delay, 1)),
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), delay)  # a stop cuts the wait short
