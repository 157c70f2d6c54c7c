"""Migrations: applied in order, recorded, idempotent, and atomic; the stored form of times."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import aiosqlite
import pytest

from bot.cli import main
from storage import Database
from storage.migrate import Migration, apply_migrations, available_migrations
from storage.timefmt import from_db, to_db

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


def test_stored_times_are_fixed_width_utc_text_whatever_the_zone() -> None:
    """Text comparison in SQL is time comparison only if every stored time has the same form."""
    rng = random.Random(14)
    for _ in range(2_000):
        moment = datetime(
            rng.randint(1970, 2100),
            rng.randint(1, 12),
            rng.randint(1, 28),
            rng.randint(0, 23),
            rng.randint(0, 59),
            rng.randint(0, 59),
            rng.choice([0, rng.randint(0, 999_999)]),
            tzinfo=timezone(timedelta(minutes=rng.randint(-720, 840))),
        )
        text = to_db(moment)
        assert text == moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        assert from_db(text) == moment
    with pytest.raises(ValueError, match="naive"):
        to_db(datetime(2026, 11, 29, 12, 0))
