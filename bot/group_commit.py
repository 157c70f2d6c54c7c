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
from typing import Generic, TypeVar

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
        batch: list[tuple[T, asyncio.Future[R]]] = []
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                await self._settle(batch)
        except BaseException:
            # Cancelled (the loop is shutting down): nobody may wait forever for an answer.
            for _, done in [*batch, *self._waiting]:
                done.cancel()
            self._waiting = []
            raise
        finally:
            self._flusher = None

    async def _settle(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        """Commit the batch together; if that fails, each alone, so only a culprit gets the error."""
        try:
            results = await self._commit(batch)
        except Exception as exc:
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
        for (_, done), result in zip(batch, results, strict=True):
            _answer(done, result)

    async def _commit(self, batch: list[tuple[T, asyncio.Future[R]]]) -> list[R]:
        # Inline: each write's statements run on the event loop without yielding to it (they are
        # small), so the loop gets a turn between writes: a webhook arriving meanwhile is read and
        # can ask for the writer (which a batch of the inbox's then leaves to it).
        async with self._db.transaction(urgent=self._urgent, inline=True) as tx:
            results: list[R] = []
            for index, (item, _) in enumerate(batch):
                if index:
                    await asyncio.sleep(0)
                results.append(await self._write(tx, item))
            return results


def _answer(done: asyncio.Future[R], outcome: R | Exception) -> None:
    if done.done():
        return  # the waiter went away (a client disconnect, a cancelled delivery): nobody to tell
    if isinstance(outcome, Exception):
        done.set_exception(outcome)
    else:
        done.set_result(outcome)
