"""Savepoints: a part of a transaction that fails undoes only its own writes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from storage import Database
from storage.db import TransactionLost
from tests.conftest import NOW


class Boom(Exception):
    pass


async def test_a_failing_part_undoes_only_its_own_writes(db: Database) -> None:
    async with db.transaction() as tx:
        async with db.savepoint():
            await tx.users.ensure("U-kept", NOW)
        with pytest.raises(Boom):
            async with db.savepoint():
                await tx.users.ensure("U-undone", NOW)
                raise Boom
        async with db.savepoint():
            await tx.users.ensure("U-after", NOW)
    assert await db.read.users.by_line_id("U-kept") is not None
    assert await db.read.users.by_line_id("U-undone") is None
    assert await db.read.users.by_line_id("U-after") is not None


async def test_a_savepoint_outside_a_transaction_is_refused(db: Database) -> None:
    with pytest.raises(RuntimeError, match="part of a transaction"):
        async with db.savepoint():
            pass


async def test_a_transaction_sqlite_rolled_back_is_reported_lost(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    db = await Database.open(path)
    try:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute(
            "CREATE TRIGGER undo BEFORE INSERT ON users WHEN NEW.line_user_id = 'U-undo'"
            " BEGIN SELECT RAISE(ROLLBACK, 'undone'); END"
        )
        conn.close()
        with pytest.raises(TransactionLost) as lost:
            async with db.transaction() as tx:
                async with db.savepoint():
                    await tx.users.ensure("U-kept", NOW)
                async with db.savepoint():
                    await tx.users.ensure("U-undo", NOW)
        assert isinstance(lost.value.error, sqlite3.IntegrityError)
        # The part kept before went with the transaction, and the next one starts clean.
        assert await db.read.users.by_line_id("U-kept") is None
        async with db.transaction() as tx:
            await tx.users.ensure("U-next", NOW)
        assert await db.read.users.by_line_id("U-next") is not None
    finally:
        await db.close()
