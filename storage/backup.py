"""Online copies of the SQLite file with SQLite's backup API, on a connection of their own.

Blocking (sqlite3, not aiosqlite): the caller runs it in a thread so the event loop is never held.
The copy is made in one step (`pages=-1`), i.e. inside one read transaction: in WAL mode that is a
consistent snapshot of everything committed when it began, and writers carry on meanwhile (a copy
made in several steps would start over each time another connection writes, and under steady
traffic might never finish).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from storage.db import create_private


def copy_database(source: Path, target: Path, busy_timeout_ms: int = 5000) -> list[str]:
    """Copy `source` into the new file `target` (a single file, no WAL) and check the copy;
    returns the copy's `PRAGMA integrity_check` answer (["ok"] when sound)."""
    if not source.is_file():
        raise FileNotFoundError(f"no database at {source}")
    # Read-write mode although it only reads: a read-only connection to a WAL database cannot always
    # create the shared-memory file it needs when the bot is not running.
    src = sqlite3.connect(source, timeout=busy_timeout_ms / 1000)
    try:
        create_private(target)  # a copy of all the personal data: owner only, whatever the umask
        dst = sqlite3.connect(target)
        try:
            src.backup(dst, pages=-1)
            dst.execute("PRAGMA journal_mode = DELETE")
            result = [str(row[0]) for row in dst.execute("PRAGMA integrity_check")]
        finally:
            dst.close()
    finally:
        src.close()
    with open(target, "rb") as handle:
        os.fsync(handle.fileno())
    return result


def check_file(path: Path) -> list[str]:
    """`PRAGMA integrity_check` of a database file, opened read-only; a file that is not a database
    at all is reported the same way."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        return [str(exc)]
    try:
        return [str(row[0]) for row in conn.execute("PRAGMA integrity_check")]
    except sqlite3.Error as exc:
        return [str(exc)]
    finally:
        with contextlib.suppress(sqlite3.Error):
            conn.close()
