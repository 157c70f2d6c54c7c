"""`madoguchi events import|list|report`: CSV and iCalendar files, all or nothing, idempotent."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.clock import utc_now
from bot.config import load_settings
from bot.event_import import MAX_FILE_BYTES, EventFileError, read_events
from bot.sandbox.fake_line import FakeLine
from storage import Database
from tests.harness import ROOT, write_config
from tests.test_case_export import madoguchi

HEADER = "uid,kind,title,description,starts_at,ends_at,venue,online_url,capacity,registration_deadline,public,reminders"
# In the next year's January, ahead whenever the tests run: `events list` shows only events to come on
# the real clock (a fixed 2027 fell off it on 2027-01-15).
YEAR = utc_now().year + 1
WIDE_YEAR = str(YEAR).translate(str.maketrans("0123456789", "０１２３４５６７８９"))  # as typed in Japanese
GOOD = [
    f'salon-2027-01,ミズベサロン,ミズベサロン1月,"川辺で, 話そう",{YEAR}-01-15 18:30,{YEAR}-01-15 20:00,'
    f"センター スペースA,,30,{YEAR}-01-14 17:00,1,3d 1d 2h",
    f"npo-2027-01,npo-seminar,NPO入門セミナー,,{WIDE_YEAR}-01-20 14:00,,,https://example.org/live,,,0,",
]


def write_csv(tmp_path: Path, rows: list[str], bom: bool = True) -> Path:
    path = tmp_path / "events.csv"
    text = "\r\n".join([HEADER, *rows]) + "\r\n"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path


async def stored(tmp_path: Path) -> list[tuple[str, str, datetime]]:
    db = await Database.open(tmp_path / "madoguchi.sqlite3")
    try:
        return [(e.uid, e.title, e.starts_at) for e in await db.read.events.all_events()]
    finally:
        await db.close()


async def test_import_twice_adds_once_in_tokyo_time(tmp_path: Path, line: FakeLine) -> None:
    config = write_config(tmp_path, line.base_url)
    path = write_csv(tmp_path, GOOD)
    status, out, err = await madoguchi("events", "import", str(path), "--config", str(config))
    assert status == 0, err
    assert "2 event(s): 2 added, 0 updated, 0 unchanged" in out.decode()
    status, out, _ = await madoguchi("events", "import", str(path), "--config", str(config))
    assert status == 0 and "0 added, 0 updated, 2 unchanged" in out.decode()
    events = await stored(tmp_path)
    assert [uid for uid, _, _ in events] == ["salon-2027-01", "npo-2027-01"]
    assert events[0][2] == datetime(YEAR, 1, 15, 9, 30, tzinfo=UTC)  # 18:30 in Tokyo
    db = await Database.open(tmp_path / "madoguchi.sqlite3")
    try:
        salon, npo = await db.read.events.all_events()
    finally:
        await db.close()
    assert (salon.kind, salon.description, salon.capacity, salon.public) == (
        "salon",
        "川辺で, 話そう",
        30,
        True,
    )
    assert salon.reminder_offsets == (4320, 1440, 120)
    assert (npo.public, npo.online_url, npo.reminder_offsets) == (False, "https://example.org/live", None)

    moved = write_csv(tmp_path, [GOOD[0].replace(f"{YEAR}-01-15 18:30", f"{YEAR}-01-15 19:00"), GOOD[1]])
    status, out, _ = await madoguchi("events", "import", str(moved), "--config", str(config))
    assert status == 0 and "1 updated, 1 unchanged, 1 moved to a new time" in out.decode()

    status, out, _ = await madoguchi("events", "list", "--config", str(config))
    listing = out.decode()
    assert status == 0 and "times in Asia/Tokyo" in listing
    assert f"{YEAR}-01-15 19:00-20:00  0/30  ミズベサロン1月" in listing and "internal" in listing


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (GOOD[0].replace(f"{YEAR}-01-15 18:30", "1月15日"), "events.csv:3: starts_at: not a date and time (expected 2026-12-01 18:30)"),
        (GOOD[0].replace("ミズベサロン,", "花見,", 1), "events.csv:3: kind: unknown kind '花見'"),
        (GOOD[0].replace(f"{YEAR}-01-15 20:00", f"{YEAR}-01-15 17:00"), "events.csv:3: ends_at: must be after starts_at"),
        (GOOD[0].replace(",30,", ",-1,"), "events.csv:3: capacity: must be between 1 and"),
        # More digits than int() reads (4,300): the same clear error, not a ValueError's traceback.
        (GOOD[0].replace(",30,", "," + "9" * 5000 + ","), "events.csv:3: capacity: must be between 1 and"),
        (GOOD[0].replace(f"{YEAR}-01-14 17:00", f"{YEAR}-01-16 17:00"), "events.csv:3: registration_deadline: must not be after starts_at"),
        (GOOD[0].replace("salon-2027-01", "npo-2027-01"), "events.csv:3: uid: 'npo-2027-01' is already on line 2"),
        (GOOD[0].replace("3d 1d 2h", "3 days"), "events.csv:3: reminders:"),
        # A | would let the address show another label in Slack (<url|label>).
        (GOOD[0].replace("スペースA,,30", "スペースA,https://evil.example/a|公式サイト,30"), "events.csv:3: online_url: not a web address"),
    ],
)  # fmt: skip
async def test_a_bad_row_imports_nothing_and_names_its_line(
    tmp_path: Path, line: FakeLine, row: str, message: str
) -> None:
    config = write_config(tmp_path, line.base_url)
    path = write_csv(tmp_path, [GOOD[1], row], bom=False)
    status, out, err = await madoguchi("events", "import", str(path), "--config", str(config))
    assert status == 2 and out == b""
    assert (
        err.startswith(f"error: {tmp_path}/")
        and message in err
        and "Traceback" not in err
        and len(err.strip().splitlines()) == 1
    )
    assert await stored(tmp_path) == []


def test_line_numbers_count_lines_inside_quoted_cells(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, "http://127.0.0.1:9"), environ={})
    rows = [GOOD[0].replace('"川辺で, 話そう"', '"一行目\r\n二行目"'), GOOD[1].replace(",0,", ",maybe,")]
    with pytest.raises(EventFileError, match=r"events.csv:4: public: expected 1"):
        read_events(write_csv(tmp_path, rows), settings, "events.csv")


def test_unknown_columns_and_bad_encoding_are_named(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, "http://127.0.0.1:9"), environ={})
    path = tmp_path / "x.csv"
    path.write_text("uid,kind,title,start_at\n")
    with pytest.raises(EventFileError, match=r"x\.csv:1: unknown column 'start_at'"):
        read_events(path, settings, "x.csv")
    path.write_bytes(HEADER.encode() + b"\n" + "a,salon,サロン".encode("shift_jis") + b",2027-01-01 10:00\n")
    with pytest.raises(EventFileError, match=r"x\.csv:2: not UTF-8"):
        read_events(path, settings, "x.csv")


# The command run with its memory capped (address space, as `ulimit -v`): a read of the whole file
# fails with MemoryError instead of the clear error, and never takes the machine's memory.
MEMORY_CAP = 1024 * 1024 * 1024
CAPPED = (
    "import resource, runpy, sys; resource.setrlimit(resource.RLIMIT_AS, ({cap}, {cap})); "
    "sys.argv = ['madoguchi', *sys.argv[1:]]; runpy.run_module('bot', run_name='__main__')"
)


async def import_capped(path: Path, config: Path) -> tuple[int, str]:
    """`madoguchi events import PATH` with its memory capped; an import that hangs fails the test."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CAPPED.format(cap=MEMORY_CAP), "events", "import", str(path),
        "--config", str(config), cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        _, err = await asyncio.wait_for(process.communicate(), 120)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"events import {path} hung") from None
    assert process.returncode is not None
    return process.returncode, err.decode()


def sparse(tmp_path: Path) -> Path:
    """A file of 8 GB that takes no disk space: reading it whole needs 8 GB of memory."""
    path = tmp_path / "huge.csv"
    with path.open("wb") as file:
        file.truncate(8 * 1024**3)
    return path


def fifo(tmp_path: Path) -> Path:
    """A named pipe nobody writes to: opening it to read waits for a writer forever."""
    path = tmp_path / "pipe.csv"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (sparse, "huge.csv: larger than 5 MB"),
        (fifo, "pipe.csv: not a regular file"),
        (lambda _: Path("/dev/zero"), "/dev/zero: not a regular file"),
    ],
)
async def test_a_file_is_never_read_past_the_size_limit(
    tmp_path: Path, line: FakeLine, make: Callable[[Path], Path], message: str
) -> None:
    config = write_config(tmp_path, line.base_url)
    status, err = await import_capped(make(tmp_path), config)
    assert status == 2 and message in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "madoguchi.sqlite3").exists()


async def test_five_megabytes_import_and_one_byte_more_is_refused(tmp_path: Path, line: FakeLine) -> None:
    config = write_config(tmp_path, line.base_url)
    path = write_csv(tmp_path, GOOD)
    # Padded with lines of spaces (blank rows, skipped) to the limit exactly.
    missing = MAX_FILE_BYTES - path.stat().st_size
    lines, rest = divmod(missing, 1000)
    path.write_bytes(path.read_bytes() + (b" " * 998 + b"\r\n") * lines + b" " * rest)
    status, err = await import_capped(path, config)
    assert status == 0, err
    assert [uid for uid, _, _ in await stored(tmp_path)] == ["salon-2027-01", "npo-2027-01"]
    path.write_bytes(path.read_bytes() + b" ")
    status, err = await import_capped(path, config)
    assert status == 2 and "events.csv: larger than 5 MB" in err and "Traceback" not in err


ICS = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//test//JA\r
BEGIN:VEVENT\r
UID:sympo-2027@example.org\r
DTSTAMP:20261101T000000Z\r
SUMMARY:未来創発シンポジウム\r
CATEGORIES:未来創発シンポジウム\r
DTSTART;TZID=Asia/Tokyo:20270201T130000\r
DTEND;TZID=Asia/Tokyo:20270201T170000\r
LOCATION:横浜市役所アトリウム\r
X-MADOGUCHI-CAPACITY:200\r
BEGIN:VALARM\r
ACTION:DISPLAY\r
TRIGGER:-P1D\r
END:VALARM\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:salon-x\r
DTSTAMP:20261101T000000Z\r
SUMMARY:サロン\r
DTSTART:20270301T100000\r
CLASS:PRIVATE\r
END:VEVENT\r
END:VCALENDAR\r
"""


async def test_icalendar_files_import_idempotently(tmp_path: Path, line: FakeLine) -> None:
    config = write_config(tmp_path, line.base_url)
    path = tmp_path / "events.ics"
    path.write_text(ICS, newline="")
    for expected in ("2 added", "2 unchanged"):
        status, out, err = await madoguchi("events", "import", str(path), "--config", str(config))
        assert status == 0 and expected in out.decode(), err
    db = await Database.open(tmp_path / "madoguchi.sqlite3")
    try:
        sympo, salon = await db.read.events.all_events()
    finally:
        await db.close()
    assert (sympo.kind, sympo.capacity, sympo.reminder_offsets) == ("symposium", 200, (1440,))
    assert sympo.starts_at == datetime(2027, 2, 1, 4, 0, tzinfo=UTC)
    assert (salon.kind, salon.public) == ("other", False)  # no category: その他; floating time: Tokyo
    assert salon.starts_at == datetime(2027, 3, 1, 1, 0, tzinfo=UTC)

    path.write_text(ICS.replace("DTSTART:20270301T100000", "DTSTART;VALUE=DATE:20270301"), newline="")
    status, _, err = await madoguchi("events", "import", str(path), "--config", str(config))
    assert (
        status == 2
        and "events.ics:18 (SUMMARY 'サロン', UID 'salon-x'): DTSTART: a date without a time" in err
    )


# The second event of ICS (line 18) changed: each is refused with its line, SUMMARY and UID, and the
# whole file imports nothing (the first event, good, included).
SALON = "events.ics:18 (SUMMARY 'サロン', UID 'salon-x')"
GOOD_START = "DTSTART:20270301T100000\r\n"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (GOOD_START + "DURATION:PT2X\r\n", "DURATION: not a duration (expected such as PT2H or PT90M; got 'PT2X')"),
        (GOOD_START + "DURATION:2 hours\r\n", "DURATION: not a duration"),
        (GOOD_START + "DURATION:20270301T120000\r\n", "DURATION: not a duration"),
        (GOOD_START + "DURATION:-PT1H\r\n", "DURATION: must be longer than zero"),
        (GOOD_START + "DURATION:P99999999W\r\n", "DURATION: too long"),
        (GOOD_START + "DTEND:20270301T120000\r\nDURATION:PT2H\r\n", "DURATION: given with DTEND"),
        (GOOD_START + "X-MADOGUCHI-KIND:セミナー\r\n", "X-MADOGUCHI-KIND or CATEGORIES: unknown kind 'セミナー'"),
        (GOOD_START + "CATEGORIES:セミナー\r\n", "X-MADOGUCHI-KIND or CATEGORIES: unknown kind 'セミナー'"),
        (GOOD_START + "RDATE:2027-03-08\r\n", "RDATE: not a date and time (got '2027-03-08')"),
        (GOOD_START + "RDATE:20270308T100000\r\n", "RDATE: extra dates are not imported"),
        ("DTSTART;TZID=Asia/Tokio:20270301T100000\r\n", "DTSTART: unknown time zone TZID='Asia/Tokio'"),
        (GOOD_START + "DTEND;TZID=Nowhere:20270301T120000\r\n", "DTEND: unknown time zone TZID='Nowhere'"),
        (
            GOOD_START + "X-MADOGUCHI-REGISTRATION-DEADLINE;TZID=Europe/Paris:2027-02-28 10:00\r\n",
            "X-MADOGUCHI-REGISTRATION-DEADLINE: TZID is not read here",
        ),
    ],
)  # fmt: skip
async def test_a_bad_duration_extra_date_or_time_zone_imports_nothing_and_names_the_event(
    tmp_path: Path, line: FakeLine, change: str, message: str
) -> None:
    config = write_config(tmp_path, line.base_url)
    path = tmp_path / "events.ics"
    path.write_text(ICS.replace(GOOD_START, change), newline="")
    status, out, err = await madoguchi("events", "import", str(path), "--config", str(config))
    assert status == 2 and out == b"", err
    assert f"{SALON}: {message}" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert await stored(tmp_path) == []


def test_durations_and_time_zones_that_are_right_are_read(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, "http://127.0.0.1:9"), environ={})
    path = tmp_path / "events.ics"
    timezone = (
        "BEGIN:VTIMEZONE\r\nTZID:Center Time\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\n"
        "TZOFFSETFROM:+0900\r\nTZOFFSETTO:+0900\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
    )
    text = ICS.replace("PRODID:-//test//JA\r\n", "PRODID:-//test//JA\r\n" + timezone)
    text = text.replace(GOOD_START, "DTSTART;TZID=Center Time:20270301T100000\r\nDURATION:PT1H30M\r\n")
    text = text.replace("TZID=Asia/Tokyo:", "TZID=Europe/Paris:")
    path.write_text(text, newline="")
    sympo, salon = read_events(path, settings, "events.ics").drafts
    assert sympo.starts_at == datetime(2027, 2, 1, 12, 0, tzinfo=UTC)  # 13:00 in Paris, winter
    assert (salon.starts_at, salon.ends_at) == (
        datetime(2027, 3, 1, 1, 0, tzinfo=UTC),
        datetime(2027, 3, 1, 2, 30, tzinfo=UTC),
    )


async def test_report_counts_per_month_and_kind(tmp_path: Path, line: FakeLine) -> None:
    config = write_config(tmp_path, line.base_url)
    await madoguchi("events", "import", str(write_csv(tmp_path, GOOD)), "--config", str(config))
    status, out, _ = await madoguchi("events", "report", "--config", str(config))
    assert status == 0 and out.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(out.decode("utf-8-sig"), newline="")))
    assert rows == [
        [
            "month",
            "kind",
            "events",
            "events_cancelled",
            "registrations",
            "waitlisted",
            "registrations_cancelled",
        ],
        [f"{YEAR}-01", "NPO入門セミナー", "1", "0", "0", "0", "0"],
        [f"{YEAR}-01", "ミズベサロン", "1", "0", "0", "0", "0"],
    ]
