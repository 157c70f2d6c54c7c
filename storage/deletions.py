"""The deletions on request a database holds (its audit log's `citizen.data_deleted`), read from the
file itself: `madoguchi restore` carries them over to the older copy it puts in place. Only what it
takes to find the data again: the LINE user id and when; never the data.

Blocking (sqlite3, not aiosqlite), like storage/backup.py: run by the CLI, or in a thread.
"""

from __future__ import annotations

import sqlite3
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
