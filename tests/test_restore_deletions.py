"""`madoguchi restore` and deletions on request: a deletion made after the backup was taken is made
again on the restored copy (the citizen's data never comes back), and restore refuses while another
process has the database open."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.backup import take_backup
from bot.cli import main
from bot.sandbox.fake_line import FakeLine
from flows import privacy
from storage import Database
from storage.cases import NewCase
from tests.harness import write_config


def quick_config(tmp_path: Path, line: FakeLine) -> Path:
    """The test configuration with a short busy timeout (a refused lock answers at once)."""
    config = write_config(tmp_path, line.base_url)
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("[storage]\n", "[storage]\nbusy_timeout_ms = 200\n"), encoding="utf-8")
    return config


def database_bytes(folder: Path) -> bytes:
    """The restored database's files (main, -wal, -shm), not the copy kept aside."""
    names = ("madoguchi.sqlite3", "madoguchi.sqlite3-wal", "madoguchi.sqlite3-shm")
    return b"".join((folder / name).read_bytes() for name in names if (folder / name).exists())


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
    backup = take_backup(database, tmp_path / "backups", datetime.now(UTC), keep=3)
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


async def test_a_deletion_after_the_backup_is_made_again_on_restore(
    tmp_path: Path, line: FakeLine, capsys: pytest.CaptureFixture[str]
) -> None:
    config = quick_config(tmp_path, line)
    database = tmp_path / "madoguchi.sqlite3"
    # Real times: restore replays with the real clock, after these.
    NOW = datetime.now(UTC) - timedelta(days=1)
    db = await Database.open(database)
    try:
        async with db.transaction() as tx:
            hanako = await tx.users.mark_followed("U_HANAKO", NOW)
            await tx.users.set_display_name(hanako.id, "はなこ", NOW)
            await tx.cases.create(
                NewCase(hanako.id, "general", "個人", "山田 花子", "line", "離婚後の住まい"), NOW, 2026
            )
            other = await tx.users.mark_followed("U_TARO", NOW)
            await tx.cases.create(
                NewCase(other.id, "npo", "NPO法人", "佐藤 太郎", "line", "設立の相談"), NOW, 2026
            )
        backup = take_backup(database, tmp_path / "backups", NOW + timedelta(hours=1), keep=14)
        async with db.transaction() as tx:
            await privacy.forget_citizen(hanako, tx, NOW + timedelta(hours=2))  # 削除 after the backup
    finally:
        await db.close()

    assert await restore(config, backup) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "made again on it: 1 (of 1 on record)" in out, out
    data = database_bytes(tmp_path)
    for personal in ("山田 花子", "離婚後の住まい", "はなこ"):
        assert personal.encode() not in data, f"{personal} came back with the restore"
    assert "佐藤 太郎".encode() in data  # everyone else's data is restored
    # The journal beside the database holds the LINE user id and the time, never the data: the
    # deletion, and the one the restore made again (recorded in the restored copy's audit log too).
    lines = (tmp_path / "madoguchi.sqlite3.deletions").read_text(encoding="utf-8").splitlines()
    assert [line.split("\t")[1] for line in lines] == ["U_HANAKO", "U_HANAKO"]
    assert datetime.fromisoformat(lines[0].split("\t")[0]) == NOW + timedelta(hours=2)
    assert stat.S_IMODE((tmp_path / "madoguchi.sqlite3.deletions").stat().st_mode) == 0o600
    db = await Database.open(database)
    try:
        user = await db.read.users.by_line_id("U_HANAKO")
        assert user is not None
        entries = [(e.actor, e.action) for e in await db.read.audit.for_subject("user", user.id)]
        # The restore did it, not the citizen (who did it once, in the copy replaced).
        assert entries == [
            ("system:restore", "citizen.data_deleted"),
            ("system:restore", "citizen.deletion_replayed"),
        ]
        [anonymised] = await db.read.audit.for_subject("case", 1)
        assert (anonymised.actor, anonymised.action) == ("system:restore", "case.anonymised")
        # The Slack side as on any deletion: the card redrawn without the data.
        case = await db.read.cases.get(1)
        assert case is not None and case.anonymised_at is not None
    finally:
        await db.close()
    assert "rm " in out and "before-restore" in out  # what to do with the copy it kept

    # Restoring the same backup again: the journal survived the first restore, and removes her again.
    db = await Database.open(database)
    await db.close()
    assert await restore(config, backup) == 0
    assert "made again on it: 1 (" in capsys.readouterr().out
