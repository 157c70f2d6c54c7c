"""`madoguchi restore` and deletions on request: a deletion made after the backup was taken is made
again on the restored copy (the citizen's data never comes back), and restore refuses while another
process has the database open."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import pytest

from bot.backup import take_backup
from bot.cli import main
from bot.sandbox.fake_line import FakeLine
from storage import Database
from tests.conftest import NOW
from tests.harness import write_config


def quick_config(tmp_path: Path, line: FakeLine) -> Path:
    """The test configuration with a short busy timeout (a refused lock answers at once)."""
    config = write_config(tmp_path, line.base_url)
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("[storage]\n", "[storage]\nbusy_timeout_ms = 200\n"), encoding="utf-8")
    return config


async def restore(config: Path, backup: Path) -> int:
    # The CLI runs its own loop: in a thread.
    return await asyncio.to_thread(main, ["restore", str(backup), "--config", str(config)])


async def test_restore_refuses_while_another_process_has_the_database_open(
    tmp_path: Path, line: FakeLine, capsys: pytest.CaptureFixture[str]
) -> None:
    config = quick_config(tmp_path, line)
    database = tmp_path / "madoguchi.sqlite3"
    db = await Database.open(database)
    await db.close()
    backup = take_backup(database, tmp_path / "backups", NOW, keep=3)
    # Another process (a madoguchi command, an operator's sqlite3 shell) with the file open, idle.
    other = sqlite3.connect(database, isolation_level=None)
    other.execute("SELECT count(*) FROM users").fetchall()
    try:
        code = await restore(config, backup)
        err = capsys.readouterr().err
        assert code == 1 and "is open in another process" in err and err.count("\n") == 1, err
        assert not [n for n in os.listdir(tmp_path) if "before-restore" in n or n.endswith(".restoring")]
        # What it writes still lands in the database.
        other.execute("INSERT INTO users (line_user_id, created_at, updated_at) VALUES ('U_X', 'x', 'x')")
    finally:
        other.close()
    assert await restore(config, backup) == 0, capsys.readouterr().err
