"""How the commands end when something outside them is wrong, run as an operator runs them: a real
process, so a command that never exits (aiosqlite's threads keeping it alive) fails here rather than
passing in-process. The 100 s bound is no timing assertion: it only turns a hang into a failure."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from bot.cli import EXIT_BAD_INPUT, EXIT_BROKEN_PIPE, EXIT_BUSY
from bot.sandbox.fake_line import FakeLine
from storage import Database
from tests.harness import ROOT, hold_database, write_config

WARDS = """
[[wards]]
ward = "旭区"
name = "旭区市民活動支援センター"
slack_channel = "C_WARD_ASAHI"
"""
EVENTS_CSV = "uid,kind,title,starts_at\nsalon-2030-01,salon,ミズベサロン1月,2030-01-15 18:30\n"
NOTICE = [
    "--title",
    "ネットワーク会議",
    "--at",
    "2030-12-01 14:00",
    "--deadline",
    "2030-11-24 17:00",
    "--venue",
    "本部",
]


async def madoguchi(*args: str, stdout: int = asyncio.subprocess.PIPE) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, cwd=ROOT, stdout=stdout, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), 100)
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"madoguchi {' '.join(args)} never exited")
    assert process.returncode is not None
    return process.returncode, (out or b"").decode(), err.decode()


def one_line(err: str) -> None:
    assert "Traceback" not in err and err.count("\n") == 1 and err.startswith("error: "), err


@pytest.mark.parametrize(
    "args",
    [
        ["wards", "list"],
        ["wards", "link", "旭区", "C0123456789abcdef0123456789abcdef"],
        ["notices", "send", *NOTICE],
    ],
    ids=["wards list", "wards link", "notices send"],
)
async def test_a_ward_command_on_a_locked_database_ends_with_exit_75(
    tmp_path: Path, line: FakeLine, args: list[str]
) -> None:
    config = write_config(tmp_path, line.base_url, WARDS)
    text = config.read_text(encoding="utf-8")
    busy = text.replace('path = "madoguchi.sqlite3"', 'path = "madoguchi.sqlite3"\nbusy_timeout_ms = 100')
    config.write_text(busy, encoding="utf-8")
    db = await Database.open(tmp_path / "madoguchi.sqlite3")
    await db.close()
    release = hold_database(tmp_path / "madoguchi.sqlite3")  # the running bot's writer, busy for long
    try:
        code, _, err = await madoguchi(*args, "--config", str(config))
    finally:
        release.set()
    assert code == EXIT_BUSY, err
    one_line(err)
    assert err.startswith("error: the database is locked"), err


def folder_in_its_place(tmp_path: Path) -> None:
    (tmp_path / "madoguchi.sqlite3").mkdir()  # as root in this sandbox, a 0600 file of root's would open


def under_a_file(tmp_path: Path) -> None:
    (tmp_path / "var").write_text("not a folder")


def not_a_database(tmp_path: Path) -> None:
    (tmp_path / "madoguchi.sqlite3").write_bytes(b"this is a text file, not SQLite; " * 10)


@pytest.mark.parametrize("args", [["migrate"], ["serve"], ["cases", "export"], ["wards", "list"]])
@pytest.mark.parametrize(
    ("spoil", "path", "says"),
    [
        (
            folder_in_its_place,
            "madoguchi.sqlite3",
            "unable to open database file: check that it and its folder",
        ),
        (under_a_file, "var/madoguchi.sqlite3", "/var: not a folder: check [storage] path"),
        (not_a_database, "madoguchi.sqlite3", "file is not a database"),
    ],
    ids=["a folder", "under a file", "not a database"],
)
async def test_a_database_that_cannot_be_used_is_one_line_and_exit_2(
    tmp_path: Path, line: FakeLine, args: list[str], spoil: object, path: str, says: str
) -> None:
    """Not 1 and 40-60 lines of tracebacks ('Event loop is closed' from aiosqlite's thread too): exit 2
    is the unit's RestartPreventExitStatus, so serve does not restart every 5 s for ever."""
    config = write_config(tmp_path, line.base_url, WARDS)
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace('path = "madoguchi.sqlite3"', f'path = "{tmp_path / path}"'), encoding="utf-8"
    )
    assert callable(spoil)
    spoil(tmp_path)
    code, _, err = await madoguchi(*args, "--config", str(config))
    assert code == EXIT_BAD_INPUT, err
    one_line(err)
    assert err.startswith(f"error: cannot use the database {tmp_path / path}: ") and says in err, err


@pytest.mark.parametrize("args", [["wards", "list"], ["events", "list"]])
async def test_a_listing_piped_into_head_ends_quietly(
    tmp_path: Path, line: FakeLine, args: list[str]
) -> None:
    config = write_config(tmp_path, line.base_url, WARDS)
    (tmp_path / "events.csv").write_text(EVENTS_CSV, encoding="utf-8")
    assert (await madoguchi("events", "import", str(tmp_path / "events.csv"), "--config", str(config)))[
        0
    ] == 0
    read_end, write_end = os.pipe()
    os.close(read_end)  # as `head` does once it has its lines
    try:
        code, _, err = await madoguchi(*args, "--config", str(config), stdout=write_end)
    finally:
        os.close(write_end)
    assert (code, err) == (EXIT_BROKEN_PIPE, "")


async def test_events_list_shows_the_id_that_survey_and_announce_take(tmp_path: Path, line: FakeLine) -> None:
    config = write_config(tmp_path, line.base_url)
    (tmp_path / "events.csv").write_text(EVENTS_CSV, encoding="utf-8")
    assert (await madoguchi("events", "import", str(tmp_path / "events.csv"), "--config", str(config)))[
        0
    ] == 0
    code, out, err = await madoguchi("events", "list", "--config", str(config))
    assert code == 0, err
    listed = out.splitlines()[-1]
    assert listed.endswith("  id=1 uid=salon-2030-01"), out
    # The id listed is the one the other commands know: survey finds the event (no questionnaire yet).
    code, _, err = await madoguchi("events", "survey", "1", "--config", str(config))
    assert (code, err) == (EXIT_BAD_INPUT, "error: events survey: event 1 has had no questionnaire\n")


async def test_events_survey_of_an_unknown_event_says_there_is_none(tmp_path: Path, line: FakeLine) -> None:
    config = write_config(tmp_path, line.base_url)
    assert (await madoguchi("migrate", "--config", str(config)))[0] == 0
    code, _, err = await madoguchi("events", "survey", "999", "--config", str(config))
    assert code == EXIT_BAD_INPUT
    one_line(err)
    assert err.startswith("error: events survey: no event 999 "), err
