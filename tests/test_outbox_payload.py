"""An outgoing row's stored body is written by pydantic's JSON encoder: it reads back as the same JSON
as json.dumps wrote, for every kind and for hostile texts; what that encoder refuses fails as before."""

from __future__ import annotations

import json
from typing import Any

import pytest

from storage import Database
from storage.outbox_rows import LineMessages, OutboxRow, encode
from tests.conftest import NOW
from tests.test_outbox_rows import ROWS

ODD: list[Any] = [
    "",
    "\x00\x01\x1f\x7f\x80\x9f",
    '"quoted" \\ back\\slash </script> \b\f\n\r\t',
    "\u2028\u2029\ufeff\u202e\u200b",
    "😊🌊 e\u0301 👨‍👩‍👧 🇯🇵",
    "\ufffd",
    "長" * 6000,
    0,
    -(2**63),
    2**70,
    1.5,
    1e16,
    1e-7,
    float("inf"),
    float("nan"),
    True,
    None,
    [],
    {},
    {"nested": [{"deep": [[["x"]]]}]},
    ("a", 1),
    {1: "int key", None: "none key"},
]
HOSTILE: list[OutboxRow] = [LineMessages([{"type": "text", "text": value}]) for value in ODD]


def as_json_dumps_wrote(row: OutboxRow) -> Any:
    return json.loads(json.dumps(encode(row), ensure_ascii=False))


@pytest.mark.parametrize("row", [*ROWS, *HOSTILE], ids=lambda r: f"{r.kind}")
async def test_the_stored_body_reads_back_as_json_dumps_wrote_it(db: Database, row: OutboxRow) -> None:
    async with db.transaction() as tx:
        added = await tx.outbox.add(row, "U1", NOW)
    stored = await db.read.outbox.get(added.id)
    assert stored is not None
    assert stored.body == added.body == as_json_dumps_wrote(row)
    assert list(stored.body) == list(as_json_dumps_wrote(row))  # the kind first, then the fields
    assert stored.row == added.row


async def test_a_lone_surrogate_fails_as_before_and_nothing_is_stored(db: Database) -> None:
    """What the Rust encoder refuses goes through json.dumps, and SQLite refuses it as it did."""
    with pytest.raises(UnicodeEncodeError):
        async with db.transaction() as tx:
            await tx.outbox.add(LineMessages([{"type": "text", "text": "a\ud800b"}]), "U1", NOW)
    assert await db.read.outbox.count("pending") == 0
