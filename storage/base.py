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
        """Execute a write; return the number of rows it changed."""
        async with self._conn.execute(sql, params) as cursor:
            return cursor.rowcount

    async def _insert(self, table: str, values: Mapping[str, Any]) -> int:
        """INSERT one row from a mapping (datetimes stored as UTC text); return its id."""
        columns = ", ".join(values)
        marks = ", ".join(f":{name}" for name in values)
        async with self._conn.execute(
            f"INSERT INTO {table} ({columns}) VALUES ({marks})", {k: db_value(v) for k, v in values.items()}
        ) as cursor:
            rowid = cursor.lastrowid
        assert rowid is not None
        return rowid


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
