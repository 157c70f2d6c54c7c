"""Writes are serialised: one task's failure never rolls back, or commits, another task's rows."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from storage import Database
from storage.base import InlineStatements, ThreadStatements
from tests.conftest import NOW
from tests.harness import hold_database, wait_for


class Boom(Exception):
    pass


async def test_concurrent_tasks_one_failing_keep_each_others_rows_apart(db: Database) -> None:
    inside = asyncio.Event()
    release = asyncio.Event()

    async def failing() -> None:
        async with db.transaction() as tx:
            await tx.users.ensure("U-failing", NOW)
            inside.set()
            await release.wait()  # the other task runs while this transaction is open
            raise Boom

    async def succeeding() -> None:
        await inside.wait()
        writer = asyncio.create_task(_write_user(db, "U-ok"))
        await asyncio.sleep(0.05)
        assert not writer.done(), "a second transaction must wait for the first"
        # The reader sees only committed data: not the failing task's uncommitted row.
        assert await db.read.users.by_line_id("U-failing") is None
        release.set()
        await writer

    results = await asyncio.gather(failing(), succeeding(), return_exceptions=True)
    assert isinstance(results[0], Boom) and results[1] is None
    assert await db.read.users.by_line_id("U-failing") is None
    assert await db.read.users.by_line_id("U-ok") is not None


async def _write_user(db: Database, line_id: str) -> None:
    async with db.transaction() as tx:
        await tx.users.ensure(line_id, NOW)


async def test_many_concurrent_writers_each_commit_exactly_their_rows(db: Database) -> None:
    async def worker(n: int) -> None:
        async with db.transaction() as tx:
            await tx.users.ensure(f"U{n}", NOW)
            await asyncio.sleep(0)  # yield mid-transaction to invite interleaving
            await tx.users.ensure(f"U{n}-second", NOW)
            if n % 3 == 0:
                raise Boom

    results = await asyncio.gather(*(worker(n) for n in range(30)), return_exceptions=True)
    assert sum(isinstance(r, Boom) for r in results) == 10
    for n in range(30):
        present = await db.read.users.by_line_id(f"U{n}") is not None
        second = await db.read.users.by_line_id(f"U{n}-second") is not None
        assert present == second == (n % 3 != 0)


async def test_nested_transaction_is_refused(db: Database) -> None:
    async with db.transaction():
        with pytest.raises(RuntimeError, match="nested transaction"):
            async with db.transaction():
                pass


async def test_reader_cannot_write(db: Database) -> None:
    with pytest.raises(Exception, match="readonly"):
        await db.read.users.ensure("U-x", NOW)


async def test_cancelled_task_rolls_back(db: Database) -> None:
    started = asyncio.Event()

    async def slow() -> None:
        async with db.transaction() as tx:
            await tx.users.ensure("U-cancelled", NOW)
            started.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(slow())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _write_user(db, "U-after")
    assert await db.read.users.by_line_id("U-cancelled") is None
    assert await db.read.users.by_line_id("U-after") is not None


async def hold_writer(db: Database) -> tuple[asyncio.Task[None], asyncio.Event]:
    """A task inside an open transaction until the returned event is set."""
    holding = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> None:
        async with db.transaction():
            holding.set()
            await release.wait()

    task = asyncio.create_task(holder())
    await holding.wait()
    return task, release


async def test_urgent_transactions_go_ahead_of_waiting_ordinary_ones(db: Database) -> None:
    order: list[str] = []

    async def write(name: str, urgent: bool) -> None:
        async with db.transaction(urgent=urgent) as tx:
            await tx.users.ensure(name, NOW)
            order.append(name)

    first, release = await hold_writer(db)
    tasks = [asyncio.create_task(write(f"normal-{n}", False)) for n in range(3)]
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(write("urgent", True)))
    await asyncio.sleep(0.01)
    release.set()
    await asyncio.gather(first, *tasks)
    assert order == ["urgent", "normal-0", "normal-1", "normal-2"]


async def test_a_waiter_cancelled_in_line_does_not_block_the_gate(db: Database) -> None:
    first, release = await hold_writer(db)
    waiting = asyncio.create_task(_write_user(db, "U-cancelled-in-line"))
    await asyncio.sleep(0.01)
    waiting.cancel()
    release.set()
    await first
    await asyncio.wait_for(_write_user(db, "U-next"), timeout=2)
    assert await db.read.users.by_line_id("U-cancelled-in-line") is None
    assert await db.read.users.by_line_id("U-next") is not None


async def test_a_task_cancelled_while_its_begin_waits_for_a_lock_leaves_no_transaction_behind(
    tmp_path: Path,
) -> None:
    """The BEGIN still runs on aiosqlite's thread after the cancel; left open, every later
    transaction failed with "cannot start a transaction within a transaction" until a restart."""
    path = tmp_path / "madoguchi.sqlite3"
    db = await Database.open(path, busy_timeout_ms=3000)
    try:
        release = hold_database(path)

        async def write() -> int:
            async with db.transaction() as tx:
                return await tx.inbox.count("done")

        waiting = asyncio.create_task(write())
        await asyncio.sleep(0.2)
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        release.set()
        assert await write() == 0
    finally:
        await db.close()


async def test_a_transaction_on_a_closed_database_releases_the_write_gate(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "db.sqlite3")
    await db.close()
    for inline in (True, False):
        with pytest.raises(ValueError):
            async with db.transaction(inline=inline):
                pass
    # The gate is free again: the next user gets the same error, not a wait forever.
    with pytest.raises(ValueError):
        await asyncio.wait_for(db.checkpoint(), 2)


async def test_an_inline_transactions_repositories_refuse_statements_once_it_has_ended(db: Database) -> None:
    async with db.transaction(inline=True) as tx:
        await tx.audit.record("test", "inside", "case", "1", NOW)
    with pytest.raises(RuntimeError, match="after its transaction ended"):
        await tx.audit.record("test", "leaked", "case", "1", NOW)
    assert [e.action for e in await db.read.audit.for_subject("case", "1")] == ["inside"]


async def test_a_quick_read_that_finds_the_database_busy_goes_to_the_reader_without_stopping_the_loop(
    tmp_path: Path,
) -> None:
    """A read on the event loop's thread never waits: when SQLite makes it wait after all (here a
    file in rollback-journal mode whose write lock another connection holds), the fallback, on its
    own thread, waits instead, and the loop goes on."""
    path = tmp_path / "plain.sqlite3"
    with closing(sqlite3.connect(path)) as setup:
        setup.execute("CREATE TABLE t (v TEXT)")
        setup.execute("INSERT INTO t VALUES ('kept')")
        setup.commit()
    inline = sqlite3.connect(path, timeout=0, isolation_level=None)
    inline.row_factory = sqlite3.Row
    fallback = await aiosqlite.connect(path, timeout=5)
    fallback.row_factory = aiosqlite.Row
    locker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    locker.execute("BEGIN EXCLUSIVE")  # readers of a rollback-journal file must wait
    threading.Timer(0.5, locker.rollback).start()
    gaps: list[float] = []

    async def ticker() -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(0.005)
            gaps.append(time.perf_counter() - started)

    ticking = asyncio.create_task(ticker())
    try:
        await asyncio.sleep(0.02)
        rows = await InlineStatements(inline, fallback=ThreadStatements(fallback)).rows("SELECT v FROM t", ())
    finally:
        ticking.cancel()
        inline.close()
        await fallback.close()
        locker.close()
    assert [tuple(r) for r in rows] == [("kept",)]
    assert max(gaps) < 0.25, f"the event loop stood still for {max(gaps) * 1000:.0f} ms"


async def test_a_quick_connection_that_cannot_open_closes_the_writer_and_the_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The third connection failing to open (the process is out of file descriptors) leaves no
    connection and no aiosqlite thread behind."""
    before = set(threading.enumerate())
    real_connect = sqlite3.connect

    def connect(database: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        if threading.current_thread() is threading.main_thread() and "mode=ro" in str(database):
            raise sqlite3.OperationalError("unable to open database file")
        connection: sqlite3.Connection = real_connect(database, *args, **kwargs)
        return connection

    monkeypatch.setattr(sqlite3, "connect", connect)
    with pytest.raises(sqlite3.OperationalError):
        await Database.open(tmp_path / "db.sqlite3")

    def left() -> list[threading.Thread]:
        return [t for t in set(threading.enumerate()) - before if t.is_alive() and not t.daemon]

    # A closed connection's thread ends just after `close()` returns: give it that moment.
    await wait_for(lambda: not left(), within=2)
