"""Group commit (bot/group_commit.py): writes submitted together share one transaction; a write that
fails, or a commit that fails, costs only its own item, never the others'."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from pathlib import Path

import pytest

from bot.group_commit import GroupCommit
from storage import Database, Repositories
from tests.conftest import NOW
from tests.harness import hold_database, run_sql

log = logging.getLogger("madoguchi.test")


class Audit:
    """Writes one audit entry per item and remembers which transaction each went into."""

    def __init__(self, db: Database) -> None:
        self.transactions: list[Repositories] = []
        self.group: GroupCommit[str, str] = GroupCommit(db, self.write, name="test", log=log)

    async def write(self, tx: Repositories, action: str) -> str:
        self.transactions.append(tx)
        await tx.audit.record("test", action, "case", "1", NOW)
        return action.upper()


async def actions(db: Database) -> list[str]:
    return sorted(entry.action for entry in await db.read.audit.for_subject("case", "1"))


async def test_items_submitted_together_share_one_commit(db: Database) -> None:
    audit = Audit(db)
    results = await asyncio.gather(*[audit.group.submit(f"a{n}") for n in range(8)])
    assert results == [f"A{n}" for n in range(8)]
    assert len({id(tx) for tx in audit.transactions}) == 1  # one transaction for all eight
    assert await actions(db) == [f"a{n}" for n in range(8)]
    # Later items start a group of their own.
    assert await audit.group.submit("later") == "LATER"
    assert len({id(tx) for tx in audit.transactions}) == 2


async def test_items_arriving_while_the_writer_is_busy_join_the_commit_that_waits_for_it(
    db: Database,
) -> None:
    """The group is taken once the transaction holds the writer, not when it starts waiting for it:
    what arrives meanwhile goes in the same commit instead of waiting for the next one."""
    audit = Audit(db)
    release = hold_database(db.path)  # another process holds the write lock for now
    first = asyncio.ensure_future(audit.group.submit("first"))
    await asyncio.sleep(0.05)  # the group's BEGIN is waiting for the lock
    later = [asyncio.ensure_future(audit.group.submit(f"later{n}")) for n in range(3)]
    await asyncio.sleep(0.05)
    release.set()
    assert await asyncio.gather(first, *later) == ["FIRST", "LATER0", "LATER1", "LATER2"]
    assert len({id(tx) for tx in audit.transactions}) == 1
    assert await actions(db) == ["first", "later0", "later1", "later2"]


async def test_a_failing_write_costs_only_its_own_item(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    # A real failure inside SQLite, for one item only.
    run_sql(
        db.path,
        "CREATE TRIGGER poison BEFORE INSERT ON audit_log WHEN NEW.action = 'poison'"
        " BEGIN SELECT RAISE(ABORT, 'poisoned'); END;",
    )
    audit = Audit(db)
    with caplog.at_level(logging.WARNING, logger="madoguchi.test"):
        results = await asyncio.gather(
            *[audit.group.submit(action) for action in ("a", "b", "poison", "c")], return_exceptions=True
        )
    assert results[:2] + results[3:] == ["A", "B", "C"]
    assert isinstance(results[2], sqlite3.IntegrityError)
    assert await actions(db) == ["a", "b", "c"]
    assert [r.getMessage() for r in caplog.records] == ["test.group_commit_failed", "test.commit_failed"]


async def test_a_failing_commit_costs_only_its_own_item(db: Database) -> None:
    # A deferred foreign key is checked at COMMIT: the shared COMMIT itself fails.
    run_sql(
        db.path,
        "CREATE TABLE dangling (user_id INTEGER REFERENCES users (id) DEFERRABLE INITIALLY DEFERRED);"
        "CREATE TRIGGER dangle AFTER INSERT ON audit_log WHEN NEW.action = 'poison'"
        " BEGIN INSERT INTO dangling VALUES (424242); END;",
    )
    audit = Audit(db)
    results = await asyncio.gather(
        *[audit.group.submit(action) for action in ("poison", "a", "b")], return_exceptions=True
    )
    assert isinstance(results[0], sqlite3.IntegrityError)
    assert results[1:] == ["A", "B"]
    assert await actions(db) == ["a", "b"]


async def test_a_waiter_that_goes_away_does_not_stop_the_others(db: Database) -> None:
    audit = Audit(db)
    async with db.transaction():  # hold the writer, so the items queue up
        gone = asyncio.create_task(audit.group.submit("gone"))
        stays = asyncio.create_task(audit.group.submit("stays"))
        await asyncio.sleep(0)
        gone.cancel()
    assert await stays == "STAYS"
    await audit.group.drain()
    # Written all the same: the item was handed over (a reply attempt recorded but never sent is safe).
    assert await actions(db) == ["gone", "stays"]


async def test_a_begin_that_fails_answers_everyone_waiting_at_once(tmp_path: Path) -> None:
    """Nobody's write ran, so nobody is the culprit: one failed BEGIN is everyone's answer, not a
    try per item, each waiting out the busy timeout again."""
    busy_ms = 200
    db = await Database.open(tmp_path / "db.sqlite3", busy_timeout_ms=busy_ms)
    release = hold_database(db.path)  # another process keeps the write lock throughout
    audit = Audit(db)
    try:
        started = time.monotonic()
        results = await asyncio.gather(
            *[audit.group.submit(f"w{n}") for n in range(10)], return_exceptions=True
        )
        took = time.monotonic() - started
    finally:
        release.set()
        await db.close()
    assert all(isinstance(r, sqlite3.OperationalError) for r in results)
    assert took < 3 * busy_ms / 1000, (
        f"answered after {took:.1f} s ({took * 1000 / busy_ms:.0f} x busy_timeout)"
    )


async def test_a_group_commit_on_a_closed_database_answers_every_item(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "db.sqlite3")
    await db.close()
    audit = Audit(db)
    results = await asyncio.wait_for(
        asyncio.gather(audit.group.submit("a"), audit.group.submit("b"), return_exceptions=True), 3
    )
    assert all(isinstance(r, ValueError) for r in results)
