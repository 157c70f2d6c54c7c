"""Backups: an online copy taken during a burst of webhooks restores to a sound database holding every
event acknowledged before it began; restore refuses while the bot runs; the nightly copy and pruning."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from bot.backup import BotRunning, NightlyBackup, backups_in, serve_lock, take_backup
from bot.cli import main
from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.line_webhook import text_event
from storage import Database
from storage.cases import NewCase
from storage.migrate import NewerSchema
from tests.conftest import NOW
from tests.harness import post_events, settings_for, wait_for, write_config


def event_ids(database: Path) -> set[str]:
    conn = sqlite3.connect(database)
    try:
        assert [r[0] for r in conn.execute("PRAGMA integrity_check")] == ["ok"]
        return {str(r[0]) for r in conn.execute("SELECT event_id FROM inbox")}
    finally:
        conn.close()


async def test_a_backup_during_a_burst_restores_everything_acknowledged_before_it(
    tmp_path: Path, line: FakeLine, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "backups"
    acked: list[tuple[float, str]] = []  # (when the 200 came, webhookEventId)
    users = [f"U_BURST_{i:02d}" for i in range(20)]
    for user in users:
        line.set_profile(user, "市民")

    async def citizen(user: str, session: aiohttp.ClientSession) -> None:
        for n in range(8):
            event = text_event(user, f"ヘルプ {n}", reply_token="stale")
            status, _ = await post_events(bot.base_url, [event], session=session)
            assert status == 200
            acked.append((time.monotonic(), str(event["webhookEventId"])))

    async with Runtime(settings_for(tmp_path, line.base_url)) as bot:
        async with aiohttp.ClientSession() as session:
            burst = [asyncio.create_task(citizen(u, session)) for u in users]
            await wait_for(lambda: len(acked) >= 40)  # the burst is well under way
            began = time.monotonic()
            before = {event_id for at, event_id in acked if at <= began}
            backup = await bot.backups.take(folder, datetime.now(UTC))
            await asyncio.gather(*burst)
        assert len(acked) == 160
    # The copy was taken (in a thread) while the other citizens' webhooks kept coming.
    assert 40 <= len(before) < len(acked)

    (tmp_path / "restored").mkdir()
    restored_config = write_config(tmp_path / "restored", line.base_url)
    code = await asyncio.to_thread(main, ["restore", str(backup), "--config", str(restored_config)])
    assert code == 0, capsys.readouterr().err
    restored = event_ids(tmp_path / "restored" / "madoguchi.sqlite3")
    assert before <= restored, f"{len(before - restored)} acknowledged events missing"
    # And nothing that was not acknowledged by the end (no invented rows).
    assert restored <= {event_id for _, event_id in acked}
    # The restored database is the bot's: it starts on it and answers /healthz.
    async with Runtime(settings_for(tmp_path / "restored", line.base_url)) as again:
        assert await again.db.ping()


async def test_restore_refuses_while_the_bot_runs_and_keeps_the_old_file(
    tmp_path: Path, line: FakeLine, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_for(tmp_path, line.base_url)
    async with Runtime(settings):
        pass  # a database with the schema
    backup = take_backup(settings.database_path, tmp_path / "b", datetime.now(UTC), keep=3)
    config = str(tmp_path / "config.toml")
    with serve_lock(settings):  # what serve holds while it runs
        code = await asyncio.to_thread(main, ["restore", str(backup), "--config", config])
        assert code == 1
        assert "madoguchi is running" in capsys.readouterr().err
        with pytest.raises(BotRunning), serve_lock(settings):
            pass
    assert await asyncio.to_thread(main, ["restore", str(backup), "--config", config]) == 0
    out = capsys.readouterr().out
    assert "is kept as" in out
    assert any(n.startswith("madoguchi.sqlite3.before-restore-") for n in os.listdir(tmp_path))


async def test_a_broken_backup_is_refused(
    tmp_path: Path, line: FakeLine, capsys: pytest.CaptureFixture[str]
) -> None:
    write_config(tmp_path, line.base_url)
    broken = tmp_path / "broken.sqlite3"
    broken.write_bytes(b"this is not a database" * 100)
    code = await asyncio.to_thread(main, ["restore", str(broken), "--config", str(tmp_path / "config.toml")])
    assert code == 2  # bad input, like the CLI's other input errors
    assert "is not a sound database" in capsys.readouterr().err
    assert not (tmp_path / "madoguchi.sqlite3").exists()
    missing = tmp_path / "no-such.sqlite3"
    code = await asyncio.to_thread(main, ["restore", str(missing), "--config", str(tmp_path / "config.toml")])
    assert code == 2
    assert "no such file" in capsys.readouterr().err


async def test_backup_command_keeps_the_newest(
    tmp_path: Path, line: FakeLine, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_for(tmp_path, line.base_url, '[backup]\nfolder = "saved"\nkeep = 2\n')
    async with Runtime(settings):
        pass
    start = datetime(2026, 11, 1, tzinfo=UTC)
    for day in range(3):
        take_backup(settings.database_path, tmp_path / "saved", start + timedelta(days=day), keep=2)
    assert [p.name for p in backups_in(tmp_path / "saved")] == [
        "madoguchi-20261102T000000Z.sqlite3",
        "madoguchi-20261103T000000Z.sqlite3",
    ]
    assert await asyncio.to_thread(main, ["backup", "--config", str(tmp_path / "config.toml")]) == 0
    assert "backup written:" in capsys.readouterr().out
    assert len(backups_in(tmp_path / "saved")) == 2
    assert not list((tmp_path / "saved").glob("*.partial"))


async def test_the_nightly_backup_is_taken_once_a_day_at_its_time(tmp_path: Path, line: FakeLine) -> None:
    # 03:30 in Tokyo is 18:30 UTC the day before.
    now = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)  # 03:00 JST on Dec 1: the Nov 30 copy is due
    settings = settings_for(tmp_path, line.base_url, '[backup]\nfolder = "nightly"\nat = "03:30"\n')
    async with Runtime(settings):
        pass
    nightly = NightlyBackup(settings, lambda: now)
    first = await nightly.run()
    assert first is not None  # none yet: the one due on Nov 30 03:30 JST is made now
    assert await nightly.run() is None  # done for that day
    now = datetime(2026, 11, 30, 18, 29, tzinfo=UTC)
    assert await nightly.run() is None  # 03:29 JST: not due yet
    now = datetime(2026, 11, 30, 18, 31, tzinfo=UTC)
    assert await nightly.run() is not None  # 03:31 JST: the next one
    assert len(backups_in(tmp_path / "nightly")) == 2


async def test_a_failed_nightly_backup_reaches_the_ops_channel(tmp_path: Path, line: FakeLine) -> None:
    (tmp_path / "nightly").write_text("a file where the folder should be")  # it cannot be written into
    settings = settings_for(tmp_path, line.base_url, '[backup]\nfolder = "nightly"\n')
    async with Runtime(settings) as bot:
        assert await bot.backups.run() is None
        [alert] = await bot.db.read.ops_alerts.since(bot.clock() - timedelta(minutes=1))
        assert alert.cause == "backup_failed" and "madoguchi backup" in alert.detail
        assert await bot.backups.run() is None  # not tried (nor reported) again within the hour
        [again] = await bot.db.read.ops_alerts.since(bot.clock() - timedelta(minutes=1))
        assert again.count == 1


async def _database_with_a_case(path: Path, body: str = "相談") -> None:
    db = await Database.open(path)
    try:
        async with db.transaction() as tx:
            await tx.cases.create(NewCase(None, "general", "団体", "山田 花子", "line", body), NOW, 2026)
    finally:
        await db.close()


async def test_restore_keeps_what_is_in_the_backups_wal(
    tmp_path: Path, line: FakeLine, capsys: pytest.CaptureFixture[str]
) -> None:
    # Undoing a restore after a crash: the kept `.before-restore-…` file has its -wal beside it, full
    # of committed transactions. A copy of the main file alone would drop them, with exit 0.
    config = write_config(tmp_path, line.base_url)
    source = tmp_path / "crashed" / "madoguchi.sqlite3"
    source.parent.mkdir()
    await _database_with_a_case(source)
    live = sqlite3.connect(source, isolation_level=None)
    try:
        live.execute("PRAGMA wal_autocheckpoint = 0")
        live.execute("UPDATE cases SET body = 'committed after the last checkpoint'")
        assert os.stat(f"{source}-wal").st_size > 0
        # The bot died here (its connection still open: no checkpoint on close).
        code = await asyncio.to_thread(main, ["restore", str(source), "--config", str(config)])
    finally:
        live.close()
    out = capsys.readouterr()
    assert code == 0, out.err
    # What to run next names this configuration, ready to copy (it said `--config PATH`).
    assert f"madoguchi doctor --config {config}" in out.out
    conn = sqlite3.connect(tmp_path / "madoguchi.sqlite3")
    try:
        assert conn.execute("SELECT body FROM cases").fetchall() == [("committed after the last checkpoint",)]
    finally:
        conn.close()
    assert not (tmp_path / "madoguchi.sqlite3.restoring").exists()


def _cases(database: Path) -> list[tuple[str]]:
    conn = sqlite3.connect(database)
    try:
        return conn.execute("SELECT body FROM cases").fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize("kind", ["empty", "foreign", "newer"])
async def test_restore_refuses_what_this_madoguchi_cannot_run(
    tmp_path: Path, line: FakeLine, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    # All three pass the integrity check: a 0-byte file (a failed scp, a full disk) is a valid empty
    # database, another program's database is sound, and a newer madoguchi's backup too.
    config = write_config(tmp_path, line.base_url)
    database = tmp_path / "madoguchi.sqlite3"
    await _database_with_a_case(database)
    backup = tmp_path / "madoguchi-20261130T000000Z.sqlite3"
    if kind == "empty":
        backup.write_bytes(b"")
    elif kind == "foreign":
        conn = sqlite3.connect(backup)
        conn.execute("CREATE TABLE photos (id INTEGER)")
        conn.commit()
        conn.close()
    else:
        backup = take_backup(database, tmp_path / "b", datetime.now(UTC), keep=3)
        conn = sqlite3.connect(backup)
        conn.execute("INSERT INTO schema_migrations VALUES (9999, 'from_the_future', '2030-01-01')")
        conn.commit()
        conn.close()
    code = await asyncio.to_thread(main, ["restore", str(backup), "--config", str(config)])
    err = capsys.readouterr().err
    assert code == 2  # bad input, like the CLI's other input errors
    expected = "made by a newer madoguchi (migrations [9999]" if kind == "newer" else "not a madoguchi backup"
    assert expected in err and "Traceback" not in err
    assert _cases(database) == [("相談",)]
    # Nothing moved aside, and the refused copy (`.restoring`) is not left behind.
    assert sorted(n for n in os.listdir(tmp_path) if n.startswith("madoguchi.")) == [
        "madoguchi.sqlite3",
        "madoguchi.sqlite3.lock",
    ]
    if kind == "newer":
        # Nor does the bot start on it: it would read tables whose shape it does not know.
        with pytest.raises(NewerSchema, match=r"\[9999\]"):
            await Database.open(backup)
        newer = tmp_path / "newer"
        newer.mkdir()
        os.replace(backup, newer / "madoguchi.sqlite3")
        newer_config = write_config(newer, line.base_url)
        assert await asyncio.to_thread(main, ["migrate", "--config", str(newer_config)]) == 2
        err = capsys.readouterr().err
        assert "does not know: [9999]" in err and "Traceback" not in err
