"""A day-before list too long for one Slack post keeps who is in which post from the moment part 1 is
drawn (review 41, D3): the roster changing between two posts (a cancellation, a deletion, a new
sign-up; the posts are seconds apart, hours when Slack is down) must never move a name into a post
already made, nor show one twice. Through the sweep, the real Slack SDK and the fake Slack, with the
outbox worker."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.delivery import RetryPolicy
from bot.event_digest import draw_digest
from bot.outbox_worker import OutboxWorker
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.fake_slack import FakeSlack
from bot.slack.sender import SlackSender
from flows.texts import Texts
from storage import Database
from storage.outbox_rows import EventDigest
from tests.conftest import NOW
from tests.harness import wait_for
from tests.test_deletion_leftovers import delete
from tests.test_event_digest import (
    CHANNEL,
    DUE,
    Clock,
    add_event,
    channel_posts,
    service,
    with_events_channel,
)

REGISTRANTS = 1500


@pytest.fixture
def events_settings(tmp_path: Path, line: FakeLine) -> Settings:
    return with_events_channel(tmp_path, line.base_url, CHANNEL)


def line_id(n: int) -> str:
    return f"U{n:032x}"


def name(n: int) -> str:
    return f"名前{n:05d}" + "あ" * 90  # long enough that 1,500 need more than one post


async def sign_up_many(db: Database, event_id: int, numbers: range) -> None:
    async with db.transaction() as tx:
        for n in numbers:
            user = await tx.users.mark_followed(line_id(n), NOW)
            await tx.users.set_display_name(user.id, name(n), NOW)
            await tx.registrations.put(event_id, user.id, "registered", 1, NOW)


def names_in(blocks: object) -> list[tuple[str, str]]:
    """The registrants' numbers in the list as posted ("1291. 名前01291" gives ("1291", "01291"))."""
    pairs: list[tuple[str, str]] = re.findall(r"(\d+)\. 名前(\d{5})", json.dumps(blocks, ensure_ascii=False))
    return pairs


async def test_the_roster_changing_between_two_posts_moves_no_name(
    db: Database, events_settings: Settings
) -> None:
    event_id = await add_event(db, capacity=None)
    await sign_up_many(db, event_id, range(1, REGISTRANTS + 1))
    clock = Clock(DUE)
    await service(db, events_settings, clock).run()
    assert [m.row for m in await channel_posts(db)] == [EventDigest(event_id)]

    async with FakeSlack() as slack:
        # Part 1 reaches Slack; its answer is held, so part 2 is drawn only after what follows.
        slack.fail_next("held", method="chat.postMessage")
        client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)
        sender = SlackSender(client, db, events_settings, Texts.load(), clock=clock)
        worker = OutboxWorker(db, clock, {"slack": sender}, RetryPolicy(max_attempts=1, base_delay=0.01))
        worker.start()
        try:
            await wait_for(lambda: len(slack.messages_in(CHANNEL)) == 1)
            async with db.transaction() as tx:  # the first registrant cancels: all below move up one
                first = await tx.users.by_line_id(line_id(1))
                assert first is not None
                assert await tx.registrations.cancel(event_id, first.id, NOW) is not None
            await sign_up_many(db, event_id, range(REGISTRANTS + 1, REGISTRANTS + 2))  # one signs up
            await delete(db, events_settings, line_id(REGISTRANTS))  # the last deletes their data
            slack.release_held()

            async def drained() -> bool:
                return not await db.read.outbox.due(clock() + timedelta(days=1), ["slack"])

            await wait_for(drained)
        finally:
            await worker.stop()
        posts = slack.messages_in(CHANNEL)

    assert len(posts) > 1 and [m.status for m in await channel_posts(db)] == ["sent"] * len(posts)
    listed = [pair for post in posts for pair in names_in(post["blocks"])]
    counted = Counter(registrant for _, registrant in listed)
    assert [r for r, times in counted.items() if times > 1] == []  # nobody twice
    # Everyone of part 1's roster is in a post, under the number part 1 gave them, but the deleted
    # citizen; the one who signed up after part 1 is in none (part 1's counts said 1,500).
    assert sorted(counted) == [f"{n:05d}" for n in range(1, REGISTRANTS)]
    assert all(int(number) == int(registrant) for number, registrant in listed)
    assert name(REGISTRANTS) not in json.dumps(posts, ensure_ascii=False)
    assert "お申し込み：1500名（定員なし）" in json.dumps(posts[0]["blocks"], ensure_ascii=False)
    assert f"続き 2/{len(posts)}" in json.dumps(posts[1]["blocks"], ensure_ascii=False)


async def test_a_later_post_whose_registrants_all_cancelled_still_closes_the_list(
    db: Database, events_settings: Settings
) -> None:
    """Drawn directly: part 2 of a list whose part 2 registrants all cancelled after part 1 was drawn
    says which part it is and carries the closing note, with no name and no empty section."""
    texts = Texts.load()
    event_id = await add_event(db, capacity=None)
    await sign_up_many(db, event_id, range(1, REGISTRANTS + 1))
    drawn = await draw_digest(db.read, EventDigest(event_id), NOW, events_settings, texts)
    assert drawn is not None
    first, following = drawn
    assert following is not None and following.part == 2 and len(following.registrations) == 1
    async with db.transaction() as tx:
        for registration in following.registrations[0]:
            found = await tx.registrations.get(registration)
            assert found is not None
            await tx.registrations.cancel(event_id, found.user_id, NOW)
    last = await draw_digest(db.read, following, NOW, events_settings, texts)
    assert last is not None and last[1] is None
    blocks = last[0].blocks
    assert [b["type"] for b in blocks] == ["section", "context"]
    assert "続き 2/2" in blocks[0]["text"]["text"] and names_in(blocks) == []
    assert len(names_in(first.blocks)) == following.number - 1
