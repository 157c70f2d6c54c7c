"""Numbered SQL migrations (storage/migrations/NNNN_name.sql), applied in order and recorded.

Each migration runs in its own transaction together with the row that records it, so a failure
leaves the schema exactly as it was and the next start tries again.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import aiosqlite

from storage.timefmt import to_db

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class NewerSchema(RuntimeError):
    """The database holds migrations this code does not know: a newer madoguchi made it."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def available_migrations() -> list[Migration]:
    found: list[Migration] = []
    for entry in resources.files("storage").joinpath("migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a number: {versions}")
    return found


async def apply_migrations(
    conn: aiosqlite.Connection, migrations: list[Migration] | None = None
) -> list[int]:
    """Apply what is missing; return the versions applied now (empty when already up to date)."""
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    async with conn.execute("SELECT version FROM schema_migrations") as cursor:
        done = {row[0] for row in await cursor.fetchall()}
    known = available_migrations() if migrations is None else migrations
    unknown = unknown_versions(done, known)
    if unknown:
        # Running on it would read and write tables this code does not know the shape of.
        raise NewerSchema(
            f"the database has migrations this madoguchi does not know: {unknown} (made by a newer "
            "version): run that version, or restore a backup made by this one"
        )
    applied: list[int] = []
    for migration in known:
        if migration.version in done:
            continue
        record = (
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES "
            f"({migration.version}, '{migration.name}', '{to_db(datetime.now(UTC))}');"
        )
        try:
            # executescript runs the whole file; the explicit BEGIN makes file and record one unit.
            await conn.executescript(f"BEGIN IMMEDIATE;\n{migration.sql}\n{record}\nCOMMIT;")
        except Exception:
            if conn.in_transaction:
                await conn.rollback()
            raise
        applied.append(migration.version)
    return applied


def unknown_versions(done: Iterable[int], migrations: list[Migration] | None = None) -> list[int]:
    """The recorded versions that are not among `migrations` (by default those of this code)."""
    known = {m.version for m in (available_migrations() if migrations is None else migrations)}
    return sorted(set(done) - known)


def recorded_versions(path: Path) -> set[int] | None:
    """Blocking: the migration versions recorded in the database file at `path`, opened read-only;
    None when it has no schema_migrations table (not a madoguchi database, or an empty file)."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        found = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        ).fetchone()
        if found is None:
            return None
        return {int(row[0]) for row in conn.execute("SELECT version FROM schema_migrations")}
    finally:
        conn.close()
