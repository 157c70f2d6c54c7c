"""`madoguchi cases export` and `madoguchi cases stats`: CSV for the center's own records and reports.

Both are UTF-8 with a byte-order mark and CRLF line ends, so a spreadsheet (Excel included) opens them
with the Japanese intact. The export holds personal data and is recorded in the audit log; the
statistics hold counts only. Column headers are in flows/texts/ja.toml (`[export]`); the columns are
documented in docs/privacy.md.
"""

from __future__ import annotations

import csv
import getpass
import io
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from bot.clock import utc_now
from bot.config import Settings
from flows.texts import Texts
from storage import Database
from storage.cases import Case

ENCODING = "utf-8-sig"  # the BOM tells spreadsheets the file is UTF-8
# A text cell starting with one of these is read by a spreadsheet as a formula (OWASP "CSV injection"):
# a citizen's `=HYPERLINK("http://…"&B2)` would run on a staff PC and could send out other cells.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

Column = tuple[str, Callable[[Case], object]]


class OutputError(Exception):
    """The output file cannot be written (a bad path, no permission, a full disk)."""


def local_time(value: datetime | None, tz: tzinfo) -> str:
    """A moment in the center's timezone as a spreadsheet sorts it: 2026-12-01 14:00 ('' for none)."""
    return "" if value is None else value.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def case_columns(settings: Settings, texts: Texts) -> list[Column]:
    tz = settings.center.tz

    def when(value: datetime | None) -> str:
        return local_time(value, tz)

    return [
        ("number", lambda c: c.number),
        ("created_at", lambda c: when(c.created_at)),
        ("category", lambda c: settings.category_label(c.category)),
        ("requester_type", lambda c: c.requester_type),
        ("organisation", lambda c: c.organisation or ""),
        ("person_name", lambda c: c.person_name),
        ("furigana", lambda c: c.furigana or ""),
        ("contact_method", lambda c: c.contact_method),
        ("phone", lambda c: c.phone or ""),
        ("email", lambda c: c.email or ""),
        ("body", lambda c: c.body),
        ("preferred_dates", lambda c: c.preferred_dates or ""),
        ("status", lambda c: texts.get(f"staff.status_{c.status}")),
        ("assignee", lambda c: c.assignee or ""),
        ("first_response_at", lambda c: when(c.first_response_at)),
        ("answer_due_at", lambda c: when(c.answer_due_at)),
        ("received_out_of_hours", lambda c: "○" if c.received_out_of_hours else ""),
        ("closed_at", lambda c: when(c.closed_at)),
    ]


def _cell(value: object) -> object:
    """A text cell that a spreadsheet would take for a formula gets a leading `'`, which makes it show
    the text as typed; numbers (which the code itself writes) stay numbers."""
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


async def record_export(
    db: Database, action: str, subject_type: str, subject_id: str | int, detail: dict[str, Any]
) -> None:
    """The audit entry of an export, committed before its file is written: an export that fails after
    this is logged as attempted (the safe side), and no personal data ever leaves unaudited. Who read
    the personal data, and how much; never what."""
    async with db.transaction() as tx:
        await tx.audit.record(f"cli:{getpass.getuser()}", action, subject_type, subject_id, utc_now(), detail)


def write_csv(rows: Sequence[Sequence[object]], output: str | None) -> None:
    """UTF-8 with a BOM and CRLF line ends, to `output` or standard output (OutputError if unwritable)."""
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\r\n").writerows([_cell(value) for value in row] for row in rows)
    data = buffer.getvalue().encode(ENCODING)
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        write_private(Path(output), data)
    except OSError as exc:
        raise OutputError(f"cannot write {output}: {exc.strerror or type(exc).__name__}") from exc


def write_private(path: Path, data: bytes) -> None:
    """Write to a new file in the same folder, then rename it into place: a full disk or a crash never
    leaves half a CSV (nor destroys the previous one). mkstemp creates it 0600: it may hold personal data."""
    fd, partial = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise


async def export_cases(settings: Settings, output: str | None) -> int:
    texts = Texts.load()
    columns = case_columns(settings, texts)
    # A database locked past [storage] busy_timeout_ms ends in cli.main (exit 75) before anything
    # is written: the audit entry comes first.
    db = await Database.open(settings.database_path, settings.storage.busy_timeout_ms)
    try:
        cases = sorted(await db.read.cases.with_status("new", "in_progress", "closed"), key=lambda c: c.id)
        await record_export(db, "cases.exported", "cases", "all", {"count": len(cases)})
    finally:
        await db.close()
    rows: list[list[object]] = [[texts.get(f"export.{key}") for key, _ in columns]]
    rows += [[value(case) for _, value in columns] for case in cases]
    write_csv(rows, output)
    print(f"{len(cases)} case(s) exported", file=sys.stderr)
    return 0


async def export_stats(settings: Settings, output: str | None) -> int:
    """Counts by month of receipt (center's timezone) and category: received, answered, closed."""
    texts = Texts.load()
    tz = settings.center.tz
    db = await Database.open(settings.database_path, settings.storage.busy_timeout_ms)
    try:
        cases = await db.read.cases.with_status("new", "in_progress", "closed")
    finally:
        await db.close()
    received: Counter[tuple[str, str]] = Counter()
    answered: Counter[tuple[str, str]] = Counter()
    on_time: Counter[tuple[str, str]] = Counter()
    closed: Counter[tuple[str, str]] = Counter()
    for case in cases:
        key = (case.created_at.astimezone(tz).strftime("%Y-%m"), settings.category_label(case.category))
        received[key] += 1
        answered[key] += case.first_response_at is not None
        on_time[key] += (
            case.first_response_at is not None
            and case.answer_due_at is not None
            and case.first_response_at <= case.answer_due_at
        )
        closed[key] += case.status == "closed"
    header = ["month", "category", "received", "answered", "answered_on_time", "closed"]
    rows: list[list[object]] = [[texts.get(f"export.stats_{key}") for key in header]]
    rows += [[*key, received[key], answered[key], on_time[key], closed[key]] for key in sorted(received)]
    write_csv(rows, output)
    return 0
