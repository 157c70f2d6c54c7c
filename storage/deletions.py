"""The deletions on request on record: those a database holds (its audit log's `citizen.data_deleted`),
read from the file itself, and the journal beside it that the bot appends to at each deletion.
`madoguchi restore` carries them over to the older copy it puts in place. Only what it takes to find
the data again: the LINE user id and when; never the data.

Blocking (sqlite3, not aiosqlite; plain file writes), like storage/backup.py: run by the CLI, or in a
thread.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from storage.timefmt import from_db


def deletions_in(path: Path, busy_timeout_ms: int = 5000) -> list[tuple[datetime, str]]:
    """(when, LINE user id) of every deletion on request recorded in the database at `path`."""
    if not path.is_file():
        raise FileNotFoundError(f"no database at {path}")
    # Read-write mode although it only reads: see storage/backup.py copy_database.
    conn = sqlite3.connect(path, timeout=busy_timeout_ms / 1000)
    try:
        rows = conn.execute(
            "SELECT audit_log.at, users.line_user_id FROM audit_log"
            " JOIN users ON users.id = CAST(audit_log.subject_id AS INTEGER)"
            " WHERE audit_log.action = 'citizen.data_deleted' AND audit_log.subject_type = 'user'"
            " ORDER BY audit_log.at"
        ).fetchall()
    finally:
        conn.close()
    return [(from_db(at), str(line_user_id)) for at, line_user_id in rows]


# -- the journal: `<database>.deletions` ------------------------------------------------------------
#
# One line per deletion, `<ISO time>\t<LINE user id>`, appended by the bot when the deletion is made and
# merged from the replaced database's audit log by `restore`. It lives beside the database, not in it,
# so it outlasts the file a restore replaces (and, copied off the machine with the backups, the disk).


def journal_path(database: Path) -> Path:
    return database.with_name(database.name + ".deletions")


def journal_line(at: datetime, line_user_id: str) -> str:
    return f"{at.isoformat()}\t{line_user_id}\n"


@dataclass(frozen=True)
class Journal:
    entries: set[tuple[datetime, str]]  # (when, LINE user id)
    # Lines that are not one (a damaged byte, not UTF-8, edited by hand), as they are: kept in the
    # file for a person to mend, never taken as a deletion.
    bad: list[bytes]


def read_journal(path: Path) -> Journal:
    """Every well-formed line of the journal at `path` (none when there is no file). A line that is
    not one is set aside, never the whole file: a damaged byte must not cost every other deletion on
    record."""
    if not path.exists():
        return Journal(set(), [])
    entries: set[tuple[datetime, str]] = set()
    bad: list[bytes] = []
    for raw in path.read_bytes().splitlines():
        if not raw:
            continue
        try:
            when, _, user = raw.decode("utf-8").partition("\t")
            at = datetime.fromisoformat(when)
        except ValueError:  # UnicodeDecodeError is one
            bad.append(raw)
            continue
        if at.tzinfo is None or not user or any(c.isspace() for c in user):
            bad.append(raw)
            continue
        entries.add((at, user))
    return Journal(entries, bad)


def note_deletion(path: Path, at: datetime, line_user_id: str) -> None:
    """Append the deletion's line to the journal at `path` (created 0600) and fsync it. Blocking.

    One write() of the whole line to a file opened O_APPEND: appended as a unit, after whatever is
    there. A line cut short before (a crash, a full disk) gets its newline first, so it costs only
    itself, not this one."""
    line = journal_line(at, line_user_id).encode("utf-8")
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line
        if os.write(fd, line) != len(line):
            raise OSError(errno.ENOSPC, "the line was cut short")
        os.fsync(fd)
    finally:
        os.close(fd)
    if not size:
        # A new file: its name must survive a crash too.
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
