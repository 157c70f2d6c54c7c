"""The database, its -wal/-shm, every backup copy and a restored database are for the bot's user only
(0600, in 0700 folders), also under the usual umask 0022 of a shell or a container: the files hold all
the personal data. `doctor` says what to run when other users can read them (review 43 D3)."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.backup import restore, take_backup
from bot.cli import main
from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.fake_slack import FakeSlack
from storage import Database
from tests.conftest import NOW, TEST_ENV
from tests.harness import settings_for, start_serve
from tests.test_doctor import doctor, migrated, row, slack, write  # noqa: F401 - slack is a fixture
from tests.test_serve import CONFIG


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """What a login shell, `sudo -u madoguchi` or a container gives: new files 0644, folders 0755."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def assert_private(*paths: Path) -> None:
    """Neither the group nor other users may read, write or enter."""
    modes = {str(p): oct(mode(p)) for p in paths}
    assert all(mode(p) & 0o077 == 0 for p in paths), modes


async def test_serve_creates_its_folder_database_wal_and_lock_for_its_user_only(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(CONFIG, encoding="utf-8")  # [storage] path = "db/madoguchi.sqlite3": a new folder
    process, _, _ = await start_serve(config, TEST_ENV)  # inherits this umask, 0022
    try:
        folder = tmp_path / "db"
        database = folder / "madoguchi.sqlite3"
        files = [database, *(folder / f"madoguchi.sqlite3{s}" for s in ("-wal", "-shm", ".lock"))]
        assert all(p.exists() for p in files), sorted(os.listdir(folder))  # serve holds them open
        assert_private(folder, *files)
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=10) == 0


async def test_a_database_and_a_backup_made_by_library_calls_are_private(tmp_path: Path) -> None:
    # No CLI here, so no umask of its own: the modes are set where the files are created.
    database = tmp_path / "var" / "madoguchi.sqlite3"
    db = await Database.open(database)
    try:
        async with db.transaction() as tx:  # something in the -wal
            await tx.audit.record("system", "test.write", "user", 1, NOW, {})
        assert_private(database.parent, database, database.with_name("madoguchi.sqlite3-wal"))
        copy = take_backup(database, tmp_path / "backups", NOW, keep=3)
    finally:
        await db.close()
    assert_private(copy.parent, copy)


async def test_backup_to_a_new_folder_on_a_usb_disk_is_private(
    tmp_path: Path, line: FakeLine, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_for(tmp_path, line.base_url)
    await (await Database.open(settings.database_path)).close()
    usb = tmp_path / "usb"
    usb.mkdir(mode=0o755)  # the mount point, not ours: left as it is
    target = usb / "madoguchi" / "2026"  # both folders new: `mkdir -p` makes the first one by the umask
    config = str(tmp_path / "config.toml")
    code = await asyncio.to_thread(main, ["backup", "--config", config, "--to", str(target)])
    assert code == 0, capsys.readouterr().err
    [copy] = target.iterdir()
    assert_private(usb / "madoguchi", target, copy, tmp_path / "madoguchi.sqlite3")
    assert mode(usb) == 0o755
    assert os.umask(0o022) == 0o022  # main gave the caller's umask back


async def test_a_restored_database_is_private_whatever_the_mode_of_the_one_it_replaces(
    tmp_path: Path, line: FakeLine
) -> None:
    settings = settings_for(tmp_path, line.base_url)
    async with Runtime(settings):
        pass  # a database with the schema
    backup = take_backup(settings.database_path, tmp_path / "b", NOW, keep=3)
    backup.chmod(0o644)  # copied by hand, or made by an older madoguchi
    settings.database_path.chmod(0o644)
    await asyncio.to_thread(restore, settings, backup, NOW)  # it runs a loop of its own
    assert_private(settings.database_path)


async def test_doctor_names_what_other_users_can_read_and_the_command_that_fixes_it(
    tmp_path: Path,
    line: FakeLine,
    slack: FakeSlack,  # noqa: F811 - the fixture of tests/test_doctor.py
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = await migrated(write(tmp_path, line, slack))
    code, out = await doctor(config, capsys)
    assert code == 0, out
    assert row(out, "file permissions").startswith("ok")

    # What an older madoguchi left under umask 0022: [backup] folder is var/backups (the default).
    database = tmp_path / "madoguchi.sqlite3"
    copy = take_backup(database, tmp_path / "var" / "backups", NOW, keep=3)
    for path, loose in ((tmp_path, 0o755), (database, 0o644), (copy.parent, 0o755), (copy, 0o644)):
        path.chmod(loose)
    code, out = await doctor(config, capsys)
    assert code == 2
    found = row(out, "file permissions")
    assert found.startswith("FIX") and len(found.splitlines()) == 2, found
    command = found.split("-> run: ")[1].split(" (")[0]
    assert command.startswith("chmod o-rwx ")

    chmod = await asyncio.create_subprocess_shell(command)  # what the operator is told to run
    assert await chmod.wait() == 0
    assert all(mode(p) & 0o007 == 0 for p in (tmp_path, database, copy.parent, copy))
    code, out = await doctor(config, capsys)
    assert code == 0, out
    assert row(out, "file permissions").startswith("ok")
