"""The one owner of the SQLite connections.

Two aiosqlite connections, a writer and a read-only reader, and a read-only `quick` connection used
on the event loop's thread only (below). An aiosqlite connection is a single
transaction shared by every task that uses it, so all writes go through `transaction()`, which holds
a lock from BEGIN to COMMIT/ROLLBACK: no task can ever commit or roll back another task's work.
Inside it, `savepoint()` lets one part fail alone (a batch of inbound events, each in its own).
Reads that must not see a half-done transaction use the reader, which in WAL mode sees only
committed data and never waits for the writer.

Every statement is a trip to aiosqlite's thread and back, except in an `inline` transaction: there,
between BEGIN and COMMIT (which still go to the thread), the statements run on the event loop's
thread, saving the trip's wake-ups (storage/base.py `InlineStatements`). For the many small
transactions of the hot path (group commits); a transaction that may run long statements keeps
the trips, so that the event loop goes on meanwhile. Likewise `quick` serves the hot path's reads of
a row or two by a unique key (the row about to be delivered, a citizen's record) without the trip:
in WAL mode a reader does not wait for the writer, and in the rare cases where SQLite makes it wait
the read goes to the reader instead. Reads that may cover many rows use `read`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

from storage.base import InlineStatements, Statements, ThreadStatements
from storage.migrate import apply_migrations
from storage.repositories import Repositories
from storage.write_gate import WriteGate

log = logging.getLogger("madoguchi.storage")

_in_transaction: contextvars.ContextVar[bool] = contextvars.ContextVar("in_transaction", default=False)


class TransactionLost(Exception):
    """A savepoint could not be rolled back to: SQLite rolled the whole transaction back itself (on
    a full disk, an I/O error, a trigger's RAISE(ROLLBACK)), so the parts kept before are gone too
    and nothing more may be written in it. `error` is what the part raised (or the rollback)."""

    def __init__(self, error: BaseException) -> None:
        super().__init__("the transaction was rolled back by SQLite")
        self.error = error


class Database:
    def __init__(
        self,
        path: Path,
        writer: aiosqlite.Connection,
        reader: aiosqlite.Connection,
        quick: sqlite3.Connection,
    ) -> None:
        self.path = path
        self._writer = writer
        self._reader = reader
        self._quick = quick
        self._gate = WriteGate()
        self._savepoints = 0
        self._statements: Statements | None = None  # those of the open transaction
        read = ThreadStatements(reader)
        self.read = Repositories(read)
        self.quick = Repositories(InlineStatements(quick, fallback=read))

    @classmethod
    async def open(cls, path: str | Path, busy_timeout_ms: int = 5000, migrate: bool = True) -> Database:
        """Open (creating the file and its folder if needed) and, by default, bring the schema up to date."""
        path = Path(path)
        # Owner only, whatever the process umask: the file holds all the personal data.
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        create_private(path)
        writer = await _connect(str(path), busy_timeout_ms, uri=False)
        try:
            await writer.execute("PRAGMA journal_mode = WAL")
            # FULL: a committed (and acknowledged) event survives a power cut, not only a crash.
            await writer.execute("PRAGMA synchronous = FULL")
            # Deleted and overwritten content is zeroed in the file, not left in free pages.
            await writer.execute("PRAGMA secure_delete = ON")
            if migrate:
                await apply_migrations(writer)
            read_only = f"{path.resolve().as_uri()}?mode=ro"
            reader = await _connect(read_only, busy_timeout_ms, uri=True)
        except BaseException:
            await writer.close()
            raise
        try:
            # No busy timeout: on the loop's thread a read never waits; one that finds the
            # database busy goes to the reader, which may (storage/base.py `InlineStatements`).
            quick = sqlite3.connect(read_only, uri=True, isolation_level=None, timeout=0)
            quick.row_factory = sqlite3.Row
        except BaseException:
            await reader.close()
            await writer.close()
            raise
        return cls(path, writer, reader, quick)

    async def close(self) -> None:
        # Wait for a transaction in flight so shutdown never cuts one in half.
        await self._gate.acquire(urgent=True)
        try:
            self._quick.close()
            await self._reader.close()
            await self._writer.close()
        finally:
            self._gate.release()

    @asynccontextmanager
    async def transaction(self, urgent: bool = False, inline: bool = False) -> AsyncIterator[Repositories]:
        """One atomic unit of work: commits on success, rolls back on any exception.

        `urgent` goes ahead of waiting ordinary transactions (someone is waiting on the network for it).
        `inline` runs its statements on the event loop's thread (module docstring): only for short
        statements, as nothing else runs on the loop while one does. Holding the write lock (its
        BEGIN IMMEDIATE is done on the connection's thread before the first statement runs here), a
        statement never waits for another connection; and no other thread uses the connection
        meanwhile: the gate admits one transaction at a time, and its COMMIT or ROLLBACK goes to the
        connection's thread after the last statement.
        """
        if _in_transaction.get():
            raise RuntimeError("nested transaction: pass the open Repositories down instead")
        await self._gate.acquire(urgent)
        try:
            # Inside the try that releases the gate: on a closed database this raises.
            statements: Statements = (
                InlineStatements(self._writer._conn) if inline else ThreadStatements(self._writer)
            )
            repositories = Repositories(statements)
            token = _in_transaction.set(True)
            try:
                try:
                    # Inside the try: a task cancelled while its BEGIN waits for a lock leaves the BEGIN
                    # queued on aiosqlite's thread, and the rollback (queued after it) ends it there.
                    await self._writer.execute("BEGIN IMMEDIATE")
                    self._statements = statements
                    yield repositories
                    self._statements = None
                    await self._writer.commit()
                except BaseException:
                    self._statements = None
                    # Also after a failed COMMIT (disk full, a deferred constraint): SQLite then keeps
                    # the transaction open, and the next BEGIN would fail for everyone.
                    await self._rollback()
                    raise
            finally:
                _in_transaction.reset(token)
                if isinstance(statements, InlineStatements):
                    statements.end()
        finally:
            self._gate.release()
        if repositories.checkpoint_requested:
            try:
                await self.checkpoint()
            except sqlite3.Error as exc:
                # Committed all the same; the next checkpoint (SQLite's own, or the hourly sweep's) does it.
                log.warning("storage.checkpoint_failed", extra={"fields": {"error": type(exc).__name__}})

    def urgent_waiting(self) -> bool:
        """An urgent transaction waits for the writer: one that does many parts should commit what
        it has and let it in rather than make it wait for all of them."""
        return self._gate.urgent_waiting()

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A part of this task's open transaction that can fail alone.

        On an exception its writes are undone and the exception goes on; the rest of the transaction
        stands and still commits or rolls back as a whole. Raises `TransactionLost` instead when the
        transaction itself is gone: the caller must then give up the whole transaction (let it out).
        """
        statements = self._statements
        if not _in_transaction.get() or statements is None:
            raise RuntimeError("a savepoint is part of a transaction: open one first")
        self._savepoints += 1
        name = f"part_{self._savepoints}"  # unique: never confused with one still open
        await statements.run(f"SAVEPOINT {name}", ())
        try:
            yield
            await statements.run(f"RELEASE {name}", ())
        except BaseException as exc:
            if not self._writer.in_transaction:
                raise TransactionLost(exc) from exc
            try:
                await statements.run(f"ROLLBACK TO {name}", ())
                await statements.run(f"RELEASE {name}", ())
            except sqlite3.Error as failure:
                raise TransactionLost(failure) from failure
            raise

    async def _rollback(self) -> None:
        try:
            await self._writer.rollback()
        except sqlite3.Error:
            # Rolling back failed too (the disk is gone): the caller's error is the one that matters.
            log.warning("storage.rollback_failed")

    async def ping(self) -> bool:
        """True when the database answers a query."""
        try:
            async with self._reader.execute("SELECT count(*) FROM schema_migrations") as cursor:
                row = await cursor.fetchone()
            return row is not None
        except Exception:
            return False

    async def checkpoint(self) -> None:
        """Copy the WAL into the database file and truncate it, so old page images (which may hold
        cleared personal data) leave the WAL file too."""
        await self._gate.acquire()
        try:
            await self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            self._gate.release()

    async def migrate(self) -> list[int]:
        await self._gate.acquire()
        try:
            return await apply_migrations(self._writer)
        finally:
            self._gate.release()


def create_private(path: Path) -> None:
    """Create `path` empty with mode 0600, unless it exists. SQLite takes an empty file for a new
    database, and gives its -wal, -shm and -journal files the database file's mode: all stay private
    whatever the process umask (an existing file keeps its mode: `madoguchi doctor` checks it)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))


async def _connect(database: str, busy_timeout_ms: int, uri: bool) -> aiosqlite.Connection:
    # isolation_level=None: we issue BEGIN/COMMIT ourselves, so nothing is opened implicitly.
    # check_same_thread=False: an inline transaction's statements run on the event loop's thread
    # (one thread at a time: see `Database.transaction`).
    conn = aiosqlite.connect(database, isolation_level=None, uri=uri, check_same_thread=False)
    try:
        await conn
    except BaseException:
        # aiosqlite stops its thread on a failed connect but does not wait for it: the thread would
        # then answer on a closed event loop (a traceback after the command's own error line).
        await asyncio.to_thread(conn._thread.join)
        raise
    conn.row_factory = aiosqlite.Row
    await conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    await conn.execute("PRAGMA foreign_keys = ON")
    return conn
