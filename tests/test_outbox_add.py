"""`outbox.add` returns the row it wrote without reading it back: exactly what a read gives."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from storage import Database
from storage.outbox_rows import ChannelPost, LineMessages
from tests.conftest import NOW


async def test_the_returned_row_is_the_stored_row(db: Database) -> None:
    tokyo = NOW.astimezone(ZoneInfo("Asia/Tokyo"))  # stored as UTC: given back as a read gives it
    async with db.transaction() as tx:
        added = [
            await tx.outbox.add(
                LineMessages([{"type": "text", "text": "一😊"}]),
                "U1",
                tokyo,
                reply_token="rt",
                reply_token_expires_at=tokyo + timedelta(seconds=50, microseconds=7),
            ),
            await tx.outbox.add(ChannelPost("お知らせ", [{"type": "section"}]), "C1", NOW, order_key="k"),
        ]
        inside = [await tx.outbox.get(m.id) for m in added]
    assert added == inside == [await db.read.outbox.get(m.id) for m in added]
    assert added[0].reply_token_expires_at == NOW + timedelta(seconds=50, microseconds=7)
    assert (added[1].status, added[1].attempts, added[1].order_key, added[1].case_id) == (
        "pending",
        0,
        "k",
        None,
    )
