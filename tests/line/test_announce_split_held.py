"""A split announcement row held back when it is sent ends only itself (review 47, D1).

When LINE refuses an announcement batch with 400, each citizen gets an announcement row of their own,
in their own order (`line:<user>`). If that row waits (LINE down, a back-off) while the citizen keeps
talking to the bot, their replies queue behind it. When it is finally drawn and held back (the citizen
sent 配信停止, the event was cancelled), only that row is cancelled: the replies behind it still go. It
used to cancel the citizen's whole queue, 配信停止's own confirmation included. Real server, signed
webhooks, real SDK, fake LINE.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.line.sender import MULTICAST
from bot.reminders import cancel_event
from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.line_webhook import text_event
from flows.texts import Texts
from storage.outbox_rows import EventAnnouncement
from tests.harness import post_events, wait_for
from tests.line.test_announce_at_send import ANNOUNCED, draft, subscribers


@pytest.mark.parametrize(
    ("typed", "confirmation", "cancelled", "reason"),
    [
        ("配信停止", "配信を停止しました", False, "not announced: nobody left who chose the kind"),
        ("配信設定", "受け取る種類です", True, "not announced: it is cancelled"),
    ],
)
async def test_a_held_back_split_announcement_leaves_the_citizens_replies_queued_behind_it(
    bot: Runtime, line: FakeLine, typed: str, confirmation: str, cancelled: bool, reason: str
) -> None:
    now = datetime.now(UTC)
    async with bot.db.transaction() as tx:
        event = await tx.events.upsert(draft("split-held"), now)
    await subscribers(bot, "U_HANAKO")
    key = "line:U_HANAKO"
    async with bot.db.transaction() as tx:
        # As _split leaves it after LINE's 400, then a 500 from LINE for it: it waits out a back-off.
        row = await tx.outbox.add(EventAnnouncement(event.id, ["U_HANAKO"]), MULTICAST, now, order_key=key)
        await tx.outbox.retry_later(row.id, now + timedelta(days=1), "multicast: 500")

    said = text_event("U_HANAKO", typed, reply_token=line.issue_reply_token("U_HANAKO"))
    assert (await post_events(bot.base_url, [said]))[0] == 200

    async def answer_queued() -> bool:
        return [r.status for r in await bot.db.read.outbox.in_order(key)] == ["pending", "pending"]

    await wait_for(answer_queued)
    async with bot.db.transaction() as tx:
        if cancelled:  # staff cancel the event meanwhile
            await cancel_event(tx, event.id, settings=bot.settings, texts=Texts.load(), now=now)
        await tx.outbox.retry_later(row.id, datetime.now(UTC), "multicast: 500")  # the back-off is over
    bot.outbox.wake()

    async def settled() -> bool:
        return all(r.status != "pending" for r in await bot.db.read.outbox.in_order(key))

    await wait_for(settled)
    rows = await bot.db.read.outbox.in_order(key)
    assert [(r.status, r.last_error) for r in rows] == [("cancelled", reason), ("sent", None)]
    sent = line.sent_texts("U_HANAKO")
    assert any(confirmation in t for t in sent), sent
    assert not any(ANNOUNCED in t for t in sent)
