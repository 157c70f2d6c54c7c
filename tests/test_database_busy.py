"""When another madoguchi or a backup holds the database: `[storage] busy_timeout_ms` is how long a
write waits for it, bounded so a typo cannot make writes hang for hours."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import aiosqlite
import pytest

from bot.cli import EXIT_BUSY, main
from bot.sandbox.fake_line import FakeLine
from storage import Database
from storage.inbox import IncomingEvent
from storage.migrate import apply_migrations, available_migrations
from storage.outbox_rows import LineMessages
from tests.conftest import NOW
from tests.harness import write_config
from tests.test_case_export import madoguchi

CONFIG = """
[storage]
busy_timeout_ms = {busy}

[line]
channel_secret = "s"
channel_access_token = "t"

[slack]
bot_token = "xoxb"
app_token = "xapp"
default_channel = "C1"
"""


@pytest.mark.parametrize("busy", [50_000_000, 60_001, -1])
def test_a_busy_timeout_out_of_bounds_is_a_configuration_error(
    tmp_path: Path, busy: int, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG.format(busy=busy), encoding="utf-8")
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: storage.busy_timeout_ms: ") and err.count("\n") == 1, err
    assert str(busy) in err


@pytest.mark.parametrize("busy", [0, 60_000])
def test_a_busy_timeout_up_to_a_minute_is_accepted(
    tmp_path: Path, busy: int, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG.format(busy=busy), encoding="utf-8")
    assert main(["check-config", str(path)]) == 0, capsys.readouterr().err


MARKER = "ひみつの相談LOCKED-7c1d"
EVENTS_CSV = "uid,kind,title,starts_at\nsalon-2027-01,salon,ミズベサロン1月,2027-01-15 18:30\n"


async def seeded(path: Path) -> None:
    """A database with a citizen's words in it (a failed event, an undelivered message)."""
    db = await Database.open(path)
    try:
        async with db.transaction() as tx:
            body = json.dumps({"text": MARKER}, ensure_ascii=False)
            await tx.inbox.add([IncomingEvent("line", "ev-1", "line:U_HANAKO", body)], NOW)
            [item] = await tx.inbox.for_key("line:U_HANAKO")
            await tx.inbox.mark_failed(item.id, "ValueError", NOW)
            message = await tx.outbox.add(LineMessages([{"type": "text", "text": MARKER}]), "U_HANAKO", NOW)
            await tx.outbox.finish(message.id, "dead", "gave up")
    finally:
        await db.close()


async def one_migration_behind(path: Path) -> None:
    """A database as the previous madoguchi left it: `migrate` has the newest migration to apply."""
    conn = await aiosqlite.connect(path)
    try:
        await conn.execute("PRAGMA journal_mode = WAL")
        await apply_migrations(conn, available_migrations()[:-1])
    finally:
        await conn.close()


@pytest.mark.parametrize(
    "command",
    [
        ["migrate"],
        ["serve"],
        ["inbox", "retry"],
        ["outbox", "retry"],
        ["events", "import", "{folder}/events.csv"],
    ],
    ids=lambda command: " ".join(command[:2]),
)
async def test_every_command_ends_a_locked_database_with_one_line(
    tmp_path: Path, line: FakeLine, command: list[str]
) -> None:
    config = write_config(tmp_path, line.base_url)
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            'path = "madoguchi.sqlite3"', 'path = "madoguchi.sqlite3"\nbusy_timeout_ms = 100'
        ),
        encoding="utf-8",
    )
    path = tmp_path / "madoguchi.sqlite3"
    if command == ["migrate"]:
        await one_migration_behind(path)  # so that it has something to write
    else:
        await seeded(path)
    (tmp_path / "events.csv").write_text(EVENTS_CSV, encoding="utf-8")
    args = [part.format(folder=tmp_path) for part in command]

    holder = sqlite3.connect(path, isolation_level=None)  # as another process would
    holder.execute("BEGIN EXCLUSIVE")  # longer than busy_timeout_ms
    try:
        status, out, err = await madoguchi(*args, "--config", str(config))
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    assert status == EXIT_BUSY, err
    assert err == (
        "error: the database is locked: another madoguchi (the running bot, another command) or a backup "
        "held it longer than [storage] busy_timeout_ms; try again in a moment\n"
    )
    assert MARKER.encode() not in out

    # Once the lock is gone, the same command goes through (serve aside: it would run until stopped).
    if command != ["serve"]:
        status, _, err = await madoguchi(*args, "--config", str(config))
        assert status == 0, err
