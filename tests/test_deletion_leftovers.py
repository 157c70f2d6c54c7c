"""What a citizen's deletion (削除 → はい) must not leave behind in rows still waiting to be sent:
multicasts that failed or went dead (which `madoguchi outbox retry` would send again).

Each test deletes as flows/desk.py does on はい: `privacy.forget_citizen`, then
`bot.citizen.queue_reply(..., Reply([...], forgotten=True))`, in one transaction.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.citizen import queue_reply
from bot.config import Settings
from bot.reminders import queue_multicast
from bot.sandbox.fake_line import FakeLine
from flows import privacy
from flows.context import Reply
from flows.messages import Text
from storage import Database
from storage.outbox import OutboxMessage
from storage.outbox_rows import LineMulticast
from tests.conftest import NOW
from tests.harness import settings_for

USER = "U_HANAKO"
OTHER = "U_OTHER"


@pytest.fixture
def settings(tmp_path: Path, line: FakeLine) -> Settings:
    return settings_for(tmp_path, line.base_url)


async def delete(db: Database, settings: Settings, line_user_id: str) -> None:
    """The deletion as the desk carries it out on はい."""
    async with db.transaction() as tx:
        user = await tx.users.by_line_id(line_user_id)
        assert user is not None
        await privacy.forget_citizen(user, tx, NOW)
        await queue_reply(tx, settings, line_user_id, Reply([Text("削除しました")], forgotten=True), NOW)


async def multicast(db: Database, to: list[str], key: str) -> OutboxMessage:
    async with db.transaction() as tx:
        for user in to:
            await tx.users.mark_followed(user, NOW)
        await queue_multicast(tx, to, [{"type": "text", "text": "明日のサロン"}], NOW, key)
    [row] = await db.read.outbox.in_order(f"line:multicast:{key}:0")
    return row


async def retry_all(db: Database) -> None:
    """`madoguchi outbox retry` after an outage, as the docs advise."""
    async with db.transaction() as tx:
        await tx.outbox.requeue_undelivered(NOW + timedelta(hours=1), NOW - timedelta(days=1))


@pytest.mark.parametrize("status", ["dead", "failed"])
async def test_outbox_retry_after_a_deletion_leaves_the_deleted_citizen_out_of_a_multicast(
    db: Database, settings: Settings, status: str
) -> None:
    row = await multicast(db, [USER, OTHER], "r1")
    async with db.transaction() as tx:
        await tx.outbox.finish(row.id, status, f"HTTP 500: {USER}")  # type: ignore[arg-type]

    await delete(db, settings, USER)
    await retry_all(db)

    again = await db.read.outbox.get(row.id)
    assert again is not None and again.status == "pending"
    assert again.row == LineMulticast([OTHER], [{"type": "text", "text": "明日のサロン"}], "")
    assert again.last_error is None  # an error text that quoted the deleted citizen's id is gone


async def test_a_multicast_left_with_nobody_is_never_sent(db: Database, settings: Settings) -> None:
    dead = await multicast(db, [USER], "r2")
    pending = await multicast(db, [USER], "r3")
    async with db.transaction() as tx:
        await tx.outbox.finish(dead.id, "dead", "HTTP 500")

    await delete(db, settings, USER)
    await retry_all(db)

    after = {m.id: m for m in [await db.read.outbox.get(i) for i in (dead.id, pending.id)] if m}
    assert (after[dead.id].status, after[dead.id].payload) == ("dead", "{}")  # a retry cannot revive it
    assert (after[pending.id].status, after[pending.id].payload) == ("cancelled", "{}")
    due = await db.read.outbox.due(NOW + timedelta(days=1), ["line"])
    assert [m.order_key for m in due] == [f"line:{USER}"]  # only the deletion's own confirmation


async def test_a_sent_multicast_is_left_as_it_was(db: Database, settings: Settings) -> None:
    row = await multicast(db, [USER, OTHER], "r4")
    async with db.transaction() as tx:
        assert await tx.outbox.mark_sent(row.id, NOW, "multicast", attempts=0)
    await delete(db, settings, USER)
    sent = await db.read.outbox.get(row.id)
    assert sent is not None and (sent.status, sent.payload) == ("sent", "{}")
