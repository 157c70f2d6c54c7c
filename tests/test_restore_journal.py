"""The journal of deletions on request (`<database>.deletions`, storage/deletions.py): written by the bot
at each deletion, so a restore makes the deletion again even when the database it replaces is lost
with its disk; a damaged line costs only itself; and a restore that cannot know the deletions since
the backup says so (review 41, D5 and D6)."""

from __future__ import annotations

import asyncio
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.backup import take_backup
from bot.cli import main
from bot.config import load_settings
from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from flows import privacy
from storage import Database
from storage.cases import NewCase
from storage.deletions import journal_line, note_deletion, read_journal
from tests.harness import captured_log
from tests.line.test_intake_e2e import USER, Citizen
from tests.test_restore_deletions import database_bytes, quick_config

# Real times: restore replays with the real clock, after these.
BEFORE = datetime.now(UTC) - timedelta(days=1)
BACKED_UP = BEFORE + timedelta(hours=1)
DONE = "お預かりしていた個人情報を削除しました。"


async def restore(config: Path, backup: Path) -> int:
    # The CLI runs its own loop: in a thread.
    return await asyncio.to_thread(main, ["restore", str(backup), "--config", str(config)])


async def backed_up_citizens(tmp_path: Path) -> Path:
    """Hanako (U_HANAKO) and Taro with a case each, and a backup of them."""
    database = tmp_path / "madoguchi.sqlite3"
    db = await Database.open(database)
    try:
        async with db.transaction() as tx:
            for line_user_id, name, body in (
                (USER, "山田 花子", "離婚後の住まい"),
                ("U_TARO", "佐藤 太郎", "設立の相談"),
            ):
                user = await tx.users.mark_followed(line_user_id, BEFORE)
                await tx.cases.create(NewCase(user.id, "general", "個人", name, "line", body), BEFORE, 2026)
    finally:
        await db.close()
    return take_backup(database, tmp_path / "backups", BACKED_UP, keep=14)


async def deleted_through_the_bot(tmp_path: Path, line: FakeLine, config: Path) -> None:
    """Hanako sends 削除, then はい, to the bot serving on that database."""
    async with Runtime(load_settings(config, environ={})) as bot:
        citizen = Citizen(bot.base_url, line, bot)
        await citizen.type("削除")
        done = await citizen.type("はい")
        assert done[-1]["text"].startswith(DONE)


async def deleted_not_through_the_bot(tmp_path: Path) -> None:
    """Hanako's deletion after the backup, in the database only (made by a version before the journal)."""
    db = await Database.open(tmp_path / "madoguchi.sqlite3")
    try:
        async with db.transaction() as tx:
            hanako = await tx.users.by_line_id(USER)
            assert hanako is not None
            await privacy.forget_citizen(hanako, tx, BACKED_UP + timedelta(hours=1))
    finally:
        await db.close()


def lose_database(tmp_path: Path) -> None:
    """The disk (or the file) is gone; the journal was copied back beside it, as docs/going-live.md says."""
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / f"madoguchi.sqlite3{suffix}").unlink(missing_ok=True)


async def test_a_deletion_is_journalled_when_made_and_a_restore_without_the_database_makes_it_again(
    tmp_path: Path, line: FakeLine, capsys: pytest.CaptureFixture[str]
) -> None:
    config = quick_config(tmp_path, line)
    backup = await backed_up_citizens(tmp_path)
    await deleted_through_the_bot(tmp_path, line, config)
    journal = tmp_path / "madoguchi.sqlite3.deletions"
    # One line, the LINE user id and the time of the deletion's audit entry, never the data; 0600.
    db = await Database.open(tmp_path / "madoguchi.sqlite3")
    try:
        user = await db.read.users.by_line_id(USER)
        assert user is not None
        [deleted] = await db.read.audit.for_subject("user", user.id)
    finally:
        await db.close()
    assert journal.read_text(encoding="utf-8") == journal_line(deleted.at, USER)
    assert stat.S_IMODE(journal.stat().st_mode) == 0o600

    lose_database(tmp_path)
    assert await restore(config, backup) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "made again on it: 1 (of 1 on record)" in out and "warning" not in out, out
    data = database_bytes(tmp_path)
    assert "山田 花子".encode() not in data and "離婚後の住まい".encode() not in data
    assert "佐藤 太郎".encode() in data  # everyone else's data is restored


@pytest.mark.parametrize("journal", ["none", "older than the backup"])
async def test_a_restore_without_the_database_and_no_journal_since_the_backup_warns(
    tmp_path: Path, line: FakeLine, capsys: pytest.CaptureFixture[str], journal: str
) -> None:
    config = quick_config(tmp_path, line)
    backup = await backed_up_citizens(tmp_path)
    if journal != "none":
        # A deletion before the backup, and nothing written since: no proof of the deletions since.
        path = tmp_path / "madoguchi.sqlite3.deletions"
        path.write_text(journal_line(BEFORE - timedelta(days=3), "U_GONE"), encoding="utf-8")
        stamp = (BACKED_UP - timedelta(minutes=5)).timestamp()
        os.utime(path, (stamp, stamp))
    await deleted_not_through_the_bot(tmp_path)
    lose_database(tmp_path)
    assert await restore(config, backup) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "山田 花子".encode() in database_bytes(tmp_path)  # nothing on record could remove it...
    assert "warning: the deletions recorded in the replaced database could not be read" in out, out
    assert "a citizen who asked for deletion after the backup may be back" in out  # ...and it says so


async def test_a_damaged_line_of_the_journal_is_skipped_counted_and_kept(
    tmp_path: Path, line: FakeLine, capsys: pytest.CaptureFixture[str]
) -> None:
    config = quick_config(tmp_path, line)
    backup = await backed_up_citizens(tmp_path)
    await deleted_not_through_the_bot(tmp_path)  # read from the database being replaced
    journal = tmp_path / "madoguchi.sqlite3.deletions"
    # A failing disk's byte (not UTF-8) and an editor's damage, and Taro's deletion known only from
    # the journal (a timeline an earlier restore abandoned).
    taro = journal_line(BACKED_UP + timedelta(hours=2), "U_TARO").encode()
    journal.write_bytes(b"\xff\xfe garbage\n" + taro + b"2026-13-01\tU_X\n")
    assert await restore(config, backup) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "made again on it: 2 (of 2 on record)" in out, out
    assert f"warning: 2 line(s) of {journal} could not be read" in out
    data = database_bytes(tmp_path)
    assert "山田 花子".encode() not in data and "佐藤 太郎".encode() not in data
    # Kept for a person to mend, not taken for deletions.
    assert b"\xff\xfe garbage\n" in journal.read_bytes() and b"2026-13-01\tU_X\n" in journal.read_bytes()


async def test_a_journal_that_cannot_be_written_does_not_stop_the_deletion(
    tmp_path: Path, line: FakeLine
) -> None:
    config = quick_config(tmp_path, line)
    await backed_up_citizens(tmp_path)
    (tmp_path / "madoguchi.sqlite3.deletions").mkdir()  # no file can be opened there
    with captured_log("山田 花子") as log:
        await deleted_through_the_bot(tmp_path, line, config)
    assert "山田 花子".encode() not in database_bytes(tmp_path)
    [failed] = [x for x in log.text.splitlines() if "event=citizen.deletion_journal_failed" in x]
    assert "level=error" in failed and "error=IsADirectoryError" in failed and USER not in failed


def test_a_line_cut_short_costs_only_itself(tmp_path: Path) -> None:
    path = tmp_path / "madoguchi.sqlite3.deletions"
    first = BEFORE + timedelta(hours=2)
    path.write_bytes(journal_line(BEFORE, "U_HALF").encode()[:16])  # a crash in the middle of a write
    note_deletion(path, first, "U_HANAKO")
    note_deletion(path, first + timedelta(minutes=1), "U_TARO")
    journal = read_journal(path)
    assert journal.entries == {(first, "U_HANAKO"), (first + timedelta(minutes=1), "U_TARO")}
    assert len(journal.bad) == 1
