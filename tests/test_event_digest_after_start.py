"""A day-before list that waited past the event's start is not posted (review 47, D5).

The sweep queues the list only before the start, but its row can wait: Slack down until the row is
dead, then `madoguchi outbox retry` days later. Drawn then, it posted the registrants' names for an
event that is over, headed 明日のイベント. Now it is drawn with the sender's clock and nothing is posted
once the event has started. Real SlackSender and outbox worker, real SDK, fake Slack.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.delivery import RetryPolicy
from bot.outbox_worker import OutboxWorker
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.fake_slack import FakeSlack
from bot.slack.sender import SlackSender
from flows.texts import Texts
from storage import Database
from storage.outbox_rows import EventDigest
from tests.harness import wait_for
from tests.test_event_digest import CHANNEL, DUE, STARTS, Clock, add_event, with_events_channel
from tests.test_event_digest_parts import sign_up_many


@pytest.fixture
def events_settings(tmp_path: Path, line: FakeLine) -> Settings:
    return with_events_channel(tmp_path, line.base_url, CHANNEL)


@pytest.mark.parametrize("late", [timedelta(0), timedelta(days=3)])
async def test_a_list_sent_once_the_event_has_started_posts_nothing(
    db: Database, events_settings: Settings, late: timedelta
) -> None:
    event_id = await add_event(db, capacity=None)
    await sign_up_many(db, event_id, range(1, 4))
    async with db.transaction() as tx:
        await tx.outbox.add(EventDigest(event_id), CHANNEL, DUE)  # queued on time, the day before
    clock = Clock(STARTS + late)  # sent at the start, or after `outbox retry` three days later
    async with FakeSlack() as slack:
        client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)
        sender = SlackSender(client, db, events_settings, Texts.load(), clock=clock)
        worker = OutboxWorker(db, clock, {"slack": sender}, RetryPolicy(max_attempts=3, base_delay=0.01))
        worker.start()
        try:

            async def drained() -> bool:
                return not await db.read.outbox.due(clock() + timedelta(days=1), ["slack"])

            await wait_for(drained)
        finally:
            await worker.stop()
        posts = slack.messages_in(CHANNEL)
    assert posts == [], [p["text"] for p in posts]
    [row] = await db.read.outbox.in_order(f"slack:{CHANNEL}")
    assert (row.status, row.delivered_via) == ("sent", "none: the event is cancelled, gone or has started")
