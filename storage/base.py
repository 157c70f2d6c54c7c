"""What every repository shares: a connection, small query helpers and row-to-dataclass mapping."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import aiosqlite

from storage.timefmt import from_db, to_db

T = TypeVar("T")
Params = Iterable[Any] | Mapping[str, Any]


class Repository:
    """Bound to one connection: the writer inside a transaction, or the read-only reader."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    # One trip to aiosqlite's thread per query (execute, fetch and close there together), not three:
    # each trip is a wake-up of that thread and of the event loop (see docs/performance.md).
    async def _one(self, sql: str, params: Params = ()) -> aiosqlite.Row | None:
        rows = await self._conn.execute_fetchall(sql, params)
        return next(iter(rows), None)

    async def _all(self, sql: str, params: Params = ()) -> list[aiosqlite.Row]:
        return list(await self._conn.execute_fetchall(sql, params))

    async def _run(self, sql: str, params: Params = ()) -> int:
        """Execute a write; return the number of rows it changed. One trip: the statement runs and
        its cursor is closed together on aiosqlite's thread (aiosqlite has no public call for that)."""
        changed = await self._conn._execute(_changes, self._conn, sql, params)  # type: ignore[no-untyped-call]
        return int(changed)

    async def _insert(self, table: str, values: Mapping[str, Any]) -> int:
        """INSERT one row from a mapping (datetimes stored as UTC text); return its id."""
        row = await self._insert_returning(table, values, "rowid")
        return int(row[0])

    async def _insert_row(self, table: str, values: Mapping[str, Any]) -> aiosqlite.Row:
        """INSERT one row and return it as stored (defaults filled in), without reading it again."""
        return await self._insert_returning(table, values, "*")

    async def _insert_returning(self, table: str, values: Mapping[str, Any], returning: str) -> aiosqlite.Row:
        columns = ", ".join(values)
        marks = ", ".join(f":{name}" for name in values)
        row = await self._one(
            f"INSERT INTO {table} ({columns}) VALUES ({marks}) RETURNING {returning}",
            {k: db_value(v) for k, v in values.items()},
        )
        assert row is not None
        return row


def _changes(conn: aiosqlite.Connection, sql: str, params: Params) -> int:
    """On aiosqlite's thread: execute a write and close its cursor, the count of rows it changed."""
    cursor = conn._conn.execute(sql, params if isinstance(params, Mapping) else tuple(params))
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


def from_row(cls: type[T], row: aiosqlite.Row | Mapping[str, Any]) -> T:
    """Build a dataclass whose field names are the row's columns."""
    values = dict(row)
    for name, convert in _converters(cls).items():
        if values.get(name) is not None:
            values[name] = convert(values[name])
    return cls(**values)
