"""What a citizen's deletion (削除 → はい) must not leave behind in rows still waiting to be sent:
multicasts that failed or went dead (which `madoguchi outbox retry` would send again), and the
day-before list of an event they had signed up for (drawn when sent, also when an older version
queued it with the names in it).

Each test deletes as flows/desk.py does on はい: `privacy.forget_citizen`, then
`bot.citizen.queue_reply(..., Reply([...], forgotten=True))`, in one transaction.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.citizen import queue_reply
from bot.config import Settings
from bot.event_digest import digest_posts
from bot.reminders import queue_multicast
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.fake_slack import FakeSlack
from flows import privacy
from flows.context import Reply
from flows.messages import Text
from flows.texts import Texts
from storage import Database
from storage.outbox import OutboxMessage
from storage.outbox_rows import ChannelPost, EventDigest, LineMulticast
from tests.conftest import NOW
from tests.harness import settings_for
from tests.test_event_digest import (
    CHANNEL,
    DUE,
    Clock,
    add_event,
    channel_posts,
    deliver,
    service,
    sign_up,
    with_events_channel,
)
from tests.test_retention import file_bytes

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


# -- the day-before list -----------------------------------------------------------------------------

NAME = "ミズベ花子さん"  # the citizen's LINE display name


@pytest.fixture
def events_settings(tmp_path: Path, line: FakeLine) -> Settings:
    return with_events_channel(tmp_path, line.base_url, CHANNEL)


async def test_a_list_queued_before_the_deletion_neither_keeps_nor_posts_the_name(
    db: Database, events_settings: Settings
) -> None:
    event_id = await add_event(db)
    await sign_up(db, event_id, USER, name=NAME)
    await sign_up(db, event_id, OTHER, name="ほかの人")
    clock = Clock(DUE)
    await service(db, events_settings, clock).run()  # queued; Slack not reached yet
    [queued] = await channel_posts(db)
    assert queued.status == "pending" and queued.row == EventDigest(event_id)

    await delete(db, events_settings, USER)
    assert NAME.encode() not in file_bytes(db.path)

    async with FakeSlack() as slack:
        await deliver(db, events_settings, slack, clock)
        [posted] = slack.messages_in(CHANNEL)
    assert NAME not in str(posted) and "1. ほかの人（LINE名）" in str(posted)
    assert "お申し込み：1名" in str(posted)


async def lists_by_the_older_version(db: Database, settings: Settings, event_id: int) -> list[OutboxMessage]:
    """Posts with the names in them, queued and claimed as the version before EventDigest did."""
    event = await db.read.events.get(event_id)
    assert event is not None
    async with db.transaction() as tx:
        assert await tx.questionnaire.claim_digest(event_id, event.starts_at, DUE)
        roster = await tx.questionnaire.roster(event_id)
        for post in digest_posts(event, roster, settings, Texts.load()):
            await tx.outbox.add(post, CHANNEL, DUE)
    return await channel_posts(db)


async def test_a_list_queued_by_the_older_version_is_redrawn_before_it_is_sent(
    db: Database, events_settings: Settings
) -> None:
    event_id = await add_event(db)
    await sign_up(db, event_id, USER, name=NAME)
    await sign_up(db, event_id, OTHER, name="ほかの人")
    [legacy] = await lists_by_the_older_version(db, events_settings, event_id)
    assert isinstance(legacy.row, ChannelPost) and NAME in legacy.payload

    clock = Clock(DUE + timedelta(minutes=1))
    await service(db, events_settings, clock).run()  # the upgraded bot's first sweep
    [redrawn] = await channel_posts(db)
    assert (redrawn.id, redrawn.row, redrawn.retry_key) == (
        legacy.id,
        EventDigest(event_id),
        legacy.retry_key,
    )

    await delete(db, events_settings, USER)
    assert NAME.encode() not in file_bytes(db.path)
    async with FakeSlack() as slack:
        await deliver(db, events_settings, slack, clock)
        [posted] = slack.messages_in(CHANNEL)
    assert NAME not in str(posted) and "1. ほかの人（LINE名）" in str(posted)


async def test_a_dead_list_of_the_older_version_is_redrawn_and_stays_dead_until_retried(
    db: Database, events_settings: Settings
) -> None:
    """A summary of a questionnaire in the same channel is no list: it is left as it is."""
    event_id = await add_event(db)
    await sign_up(db, event_id, USER, name=NAME)
    [legacy] = await lists_by_the_older_version(db, events_settings, event_id)
    async with db.transaction() as tx:
        await tx.outbox.finish(legacy.id, "dead", "HTTP 500")
        summary = await tx.outbox.add(ChannelPost("アンケートの集計"), CHANNEL, DUE)
    await service(db, events_settings, Clock(DUE + timedelta(minutes=1))).run()
    rows = {m.id: m for m in await channel_posts(db)}
    assert (rows[legacy.id].status, rows[legacy.id].row) == ("dead", EventDigest(event_id))
    assert rows[summary.id].row == ChannelPost("アンケートの集計")
    await delete(db, events_settings, USER)
    assert NAME.encode() not in file_bytes(db.path)
