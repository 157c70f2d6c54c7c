"""Migrations: applied in order, recorded, idempotent, and atomic."""

from __future__ import annotations

from pathlib import Path

import aiosqlite
import pytest

from bot.cli import main
from storage import Database
from storage.migrate import Migration, apply_migrations, available_migrations

EXPECTED_TABLES = {
    "users",
    "conversations",
    "case_numbers",
    "cases",
    "case_messages",
    "events",
    "registrations",
    "reminders",
    "inbox",
    "outbox",
    "ward_centers",
    "notices",
    "notice_recipients",
    "audit_log",
    "schema_migrations",
    "line_groups",
    "reply_drafts",
    "ops_alerts",
}


async def schema(path: Path) -> list[tuple[str, str]]:
    async with (
        aiosqlite.connect(path) as conn,
        conn.execute("SELECT name, sql FROM sqlite_master ORDER BY type, name") as cursor,
    ):
        return [(row[0], row[1]) for row in await cursor.fetchall()]


async def test_migrations_applied_twice_leave_the_same_schema(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    db = await Database.open(path)
    first = await schema(path)
    assert await db.migrate() == []
    await db.close()
    db = await Database.open(path)
    await db.close()
    assert await schema(path) == first
    assert {name for name, _ in first} >= EXPECTED_TABLES
    async with aiosqlite.connect(path) as conn, conn.execute("SELECT version FROM schema_migrations") as cur:
        assert [row[0] for row in await cur.fetchall()] == [m.version for m in available_migrations()]


async def test_database_runs_in_wal_mode_with_foreign_keys(db: Database) -> None:
    async with db.transaction() as tx:
        journal = await tx.users._one("PRAGMA journal_mode")
        fks = await tx.users._one("PRAGMA foreign_keys")
    assert journal is not None and journal[0] == "wal"
    assert fks is not None and fks[0] == 1


async def test_a_failing_migration_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    await (await Database.open(path)).close()
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        bad = Migration(9999, "broken", "CREATE TABLE half_done (x INTEGER);\nSELECT * FROM no_such_table;")
        with pytest.raises(aiosqlite.OperationalError):
            await apply_migrations(conn, [*available_migrations(), bad])
        async with conn.execute("SELECT name FROM sqlite_master WHERE name = 'half_done'") as cursor:
            assert await cursor.fetchone() is None
        async with conn.execute("SELECT max(version) FROM schema_migrations") as cursor:
            row = await cursor.fetchone()
            assert row is not None and row[0] == available_migrations()[-1].version


def test_migrate_command_is_idempotent(
    tmp_path: Path, test_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        '[storage]\npath = "data/x.sqlite3"\n[line]\nchannel_secret = "s"\nchannel_access_token = "t"\n'
        '[slack]\nbot_token = "b"\napp_token = "a"\ndefault_channel = "C1"\n',
        encoding="utf-8",
    )
    assert main(["migrate", "--config", str(config)]) == 0
    assert "applied migrations: [1" in capsys.readouterr().out
    assert (tmp_path / "data" / "x.sqlite3").exists()
    assert main(["migrate", "--config", str(config)]) == 0
    assert "up to date" in capsys.readouterr().out
