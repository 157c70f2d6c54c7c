"""What every repository shares: a connection, small query helpers and row-to-dataclass mapping."""

from __future__ import annotations

import dataclasses
import sqlite3
import types
import typing
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol, TypeVar

import aiosqlite

from storage.timefmt import from_db, to_db

T = TypeVar("T")
Params = Iterable[Any] | Mapping[str, Any]


class Statements(Protocol):
    """Where a repository's statements run."""

    async def rows(self, sql: str, params: Params) -> list[sqlite3.Row]: ...

    async def run(self, sql: str, params: Params) -> int: ...


class ThreadStatements:
    """On aiosqlite's thread: one trip there and back per statement.

    For the reader, and for a transaction whose statements may be long (a sweep over thousands of
    rows): the event loop goes on with other work while each runs."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    # One trip per query (execute, fetch and close there together), not three: each trip is a
    # wake-up of that thread and of the event loop (see docs/performance.md).
    async def rows(self, sql: str, params: Params) -> list[sqlite3.Row]:
        return list(await self._conn.execute_fetchall(sql, params))

    async def run(self, sql: str, params: Params) -> int:
        # aiosqlite has no public call that executes and closes in one trip and returns a row count.
        changed = await self._conn._execute(_changes, self._conn._conn, sql, params)  # type: ignore[no-untyped-call]
        return int(changed)


class InlineStatements:
    """Right here, on the event loop's thread, without the trip: for statements that take
    microseconds and never wait for a lock (storage/db.py says which).

    With a `fallback`, a read that finds the database busy after all (a read-only connection
    without a busy timeout, in one of the rare cases where SQLite makes a WAL reader wait, such as
    recovering after another process crashed) is run by the fallback instead, which may wait
    without stopping the loop."""

    def __init__(self, conn: sqlite3.Connection, fallback: Statements | None = None) -> None:
        self._conn: sqlite3.Connection | None = conn
        self._fallback = fallback

    def end(self) -> None:
        """No more statements: their transaction is over (and the connection may be on its thread)."""
        self._conn = None

    async def rows(self, sql: str, params: Params) -> list[sqlite3.Row]:
        try:
            return self._open().execute(sql, _bound(params)).fetchall()
        except sqlite3.OperationalError as exc:
            if self._fallback is None or not _busy(exc):
                raise
        return await self._fallback.rows(sql, params)

    async def run(self, sql: str, params: Params) -> int:
        return _changes(self._open(), sql, params)

    def _open(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("a statement after its transaction ended: use the Repositories inside it")
        return self._conn


class Repository:
    """Bound to the statements of one connection: the writer inside a transaction, or the reader."""

    def __init__(self, statements: Statements) -> None:
        self._statements = statements

    async def _one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        rows = await self._statements.rows(sql, params)
        return rows[0] if rows else None

    async def _all(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        return await self._statements.rows(sql, params)

    async def _run(self, sql: str, params: Params = ()) -> int:
        """Execute a write; return the number of rows it changed."""
        return await self._statements.run(sql, params)

    async def _insert(self, table: str, values: Mapping[str, Any]) -> int:
        """INSERT one row from a mapping (datetimes stored as UTC text); return its id."""
        row = await self._insert_returning(table, values, "rowid")
        return int(row[0])

    async def _insert_row(self, table: str, values: Mapping[str, Any]) -> sqlite3.Row:
        """INSERT one row and return it as stored (defaults filled in), without reading it again."""
        return await self._insert_returning(table, values, "*")

    async def _insert_returning(self, table: str, values: Mapping[str, Any], returning: str) -> sqlite3.Row:
        columns = ", ".join(values)
        marks = ", ".join(f":{name}" for name in values)
        row = await self._one(
            f"INSERT INTO {table} ({columns}) VALUES ({marks}) RETURNING {returning}",
            {k: db_value(v) for k, v in values.items()},
        )
        assert row is not None
        return row


def _busy(exc: sqlite3.OperationalError) -> bool:
    """SQLITE_BUSY, or one of its extended codes (such as SQLITE_BUSY_RECOVERY)."""
    return getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_BUSY


def _bound(params: Params) -> Mapping[str, Any] | tuple[Any, ...]:
    return params if isinstance(params, Mapping) else tuple(params)


def _changes(conn: sqlite3.Connection, sql: str, params: Params) -> int:
    """Execute a write and close its cursor: the count of rows it changed."""
    cursor = conn.execute(sql, _bound(params))
    try:
        return cursor.rowcount
    finally:
        cursor.close()


def db_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return to_db(value)
    if isinstance(value, bool):
        return int(value)
    return value


_CONVERTERS: dict[type[Any], dict[str, Any]] = {}


def _converters(cls: type[Any]) -> dict[str, Any]:
    """Field name -> converter from its SQLite value, for the fields that need one (cached per class)."""
    if cls in _CONVERTERS:
        return _CONVERTERS[cls]
    hints = typing.get_type_hints(cls)
    found: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        args = set(typing.get_args(hint)) if isinstance(hint, types.UnionType) else {hint}
        if datetime in args:
            found[field.name] = from_db
        elif bool in args:
            found[field.name] = bool
    _CONVERTERS[cls] = found
    return found


def from_row(cls: type[T], row: sqlite3.Row | Mapping[str, Any]) -> T:
    """Build a dataclass whose field names are the row's columns."""
    values = dict(row)
    for name, convert in _converters(cls).items():
        if values.get(name) is not None:
            values[name] = convert(values[name])
    return cls(**values)
