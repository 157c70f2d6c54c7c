"""Group commit: many tasks' small writes, one transaction.

Each task hands over its item and waits until the transaction that holds it is committed. One
flusher task takes whatever has queued up meanwhile and writes it all in one transaction: the
durability of one commit per item, at the cost of one commit per group (a `synchronous = FULL`
commit is the dearest part of a small write; see docs/performance.md). If the shared transaction
fails, each item is written again alone, so only the culprit gets the error and nobody else's write
is lost. Its statements run inline (storage/db.py): one trip to SQLite's thread for BEGIN and one
for COMMIT, whatever the size of the group.

The flusher exists only while items wait: an idle group costs nothing and needs no start or stop.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar, cast

from bot.logs import fields
from storage import Database, Repositories

T = TypeVar("T")
R = TypeVar("R")


class GroupCommit(Generic[T, R]):
    """`write(tx, item)` for every item submitted at about the same time, in one transaction.

    `name` prefixes the events logged to `log` (`<name>.group_commit_failed`, `<name>.commit_failed`);
    `urgent` takes the write gate's urgent lane (someone is waiting on the network for the commit).
    """

    def __init__(
        self,
        db: Database,
        write: Callable[[Repositories, T], Awaitable[R]],
        *,
        name: str,
        log: logging.Logger,
        urgent: bool = False,
    ) -> None:
        self._db = db
        self._log = log
        self._write = write
        self._name = name
        self._urgent = urgent
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._batch: list[tuple[T, asyncio.Future[R]]] = []  # taken by the transaction under way

    async def submit(self, item: T) -> R:
        """Return once `item` is committed (with what `write` returned); raise what its write raised."""
        done: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, done))
        if self._flusher is None:
            # A context of its own: not the first submitter's (which may be inside a transaction).
            self._flusher = asyncio.create_task(
                self._flush(), name=f"{self._name}-group-commit", context=contextvars.Context()
            )
        return await done

    async def drain(self) -> None:
        """Wait until everything submitted so far is committed (or failed)."""
        while self._flusher is not None:
            await asyncio.shield(self._flusher)

    async def _flush(self) -> None:
        try:
            while self._waiting:
                self._batch = []
                await self._settle(None)
        except BaseException:
            # Cancelled (the loop is shutting down): nobody may wait forever for an answer.
            for _, done in [*self._batch, *self._waiting]:
                done.cancel()
            self._waiting = []
            raise
        finally:
            self._flusher = None

    def _take_waiting(self) -> list[tuple[T, asyncio.Future[R]]]:
        self._batch, self._waiting = self._waiting, []
        return self._batch

    async def _settle(self, batch: list[tuple[T, asyncio.Future[R]]] | None) -> None:
        """Commit the batch together; if that fails, each alone, so only a culprit gets the error.

        `None`: whatever waits once the writer is ours. Items keep arriving while the transaction
        waits for the writer (busy with another group) and for its BEGIN: taken then, they join this
        commit instead of waiting for the next one."""
        try:
            results = await self._commit(batch)
        except Exception as exc:
            if batch is None:
                if not self._batch:
                    # The writer or its BEGIN failed before any write ran (another process holds the
                    # lock, the database is closed): nobody is the culprit, and a try per item would
                    # wait out the busy timeout once for each. Everyone waiting gets the error now.
                    self._log.error(f"{self._name}.commit_failed", extra=fields(error=type(exc).__name__))
                    for _, done in self._take_waiting():
                        _answer(done, exc)
                    return
                batch = self._batch
            if len(batch) == 1:
                self._log.error(f"{self._name}.commit_failed", extra=fields(error=type(exc).__name__))
                _answer(batch[0][1], exc)
                return
            self._log.warning(
                f"{self._name}.group_commit_failed",
                extra=fields(members=len(batch), error=type(exc).__name__),
            )
            for member in batch:
                await self._settle([member])
            return
        for (_, done), result in zip(batch or self._batch, results, strict=True):
            _answer(done, result)

    async def _commit(self, batch: list[tuple[T, asyncio.Future[R]]] | None) -> list[R]:
        # Inline: each write's statements run on the event loop without yielding to it (they are
        # small), so the loop gets a turn between writes: a webhook arriving meanwhile is read and
        # can ask for the writer (which a batch of the inbox's then leaves to it).
        async with self._db.transaction(urgent=self._urgent, inline=True) as tx:
            results: list[R] = []
            for index, (item, _) in enumerate(self._take_waiting() if batch is None else batch):
                if index:
                    await asyncio.sleep(0)
                results.append(await self._write(tx, item))
            return results


Write = Callable[[Repositories], Awaitable[Any]]


class WriteGroup:
    """Small writes of different kinds in one group commit: the bookkeeping of the deliveries under
    way (a reply's attempt, marked before it leaves; a delivery's outcome) shares one commit instead
    of one per kind. Each write is a function of the transaction; `submit` returns what it returned."""

    def __init__(self, db: Database, *, name: str, log: logging.Logger) -> None:
        self._group: GroupCommit[Write, Any] = GroupCommit(db, _call, name=name, log=log)

    async def submit(self, write: Callable[[Repositories], Awaitable[R]]) -> R:
        return cast(R, await self._group.submit(write))


async def _call(tx: Repositories, write: Write) -> Any:
    return await write(tx)


def _answer(done: asyncio.Future[R], outcome: R | Exception) -> None:
    if done.done():
        return  # the waiter went away (a client disconnect, a cancelled delivery): nobody to tell
    if isinstance(outcome, Exception):
        done.set_exception(outcome)
    else:
        done.set_result(outcome)
