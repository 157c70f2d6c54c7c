"""Failures that need a person reach the ops channel: once per cause per hour, with no personal data."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.clock import utc_now
from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.line_webhook import text_event
from bot.sandbox.slack_signing import post_signed, slash_command
from tests.harness import SLACK_SIGNING_SECRET, post_events, settings_for, wait_for

OPS = "C_OPS"
SECRET = "電話090-0000-1234 秘密の相談"


@dataclass
class Ops:
    bot: Runtime
    line: FakeLine
    slack: FakeSlack
    offset: list[timedelta]

    def posts(self) -> list[str]:
        return self.slack.texts_in(OPS)

    async def citizen_writes(self, user: str, text: str = SECRET) -> None:
        # A stale reply token: the answer is pushed, so push failures decide its fate.
        assert (await post_events(self.bot.base_url, [text_event(user, text, reply_token="stale")]))[0] == 200


@pytest.fixture
async def ops(tmp_path: Path) -> AsyncIterator[Ops]:
    offset = [timedelta(0)]

    def clock() -> datetime:
        return utc_now() + offset[0]

    async with FakeLine(access_token="test-access-token") as line, FakeSlack() as slack:
        settings = settings_for(tmp_path, line.base_url, slack_api_url=slack.api_url, max_attempts=2)
        settings = settings.model_copy(
            update={"slack": settings.slack.model_copy(update={"ops_channel": OPS})}
        )
        async with Runtime(settings, clock=clock) as bot:
            yield Ops(bot, line, slack, offset)


async def test_dead_messages_are_reported_once_an_hour_without_personal_data(ops: Ops) -> None:
    ops.line.fail_next(*[500] * 4, path="/v2/bot/message/push")
    await ops.citizen_writes("U_ONE")
    await ops.citizen_writes("U_TWO")
    await wait_for(lambda: len(ops.line.find_requests(path="/v2/bot/message/push")) == 4)

    async def two_dead() -> bool:
        return await ops.bot.db.read.outbox.count("dead") == 2

    await wait_for(two_dead)
    await wait_for(lambda: len(ops.posts()) == 1)
    [post] = ops.posts()
    assert "送れませんでした" in post and "madoguchi outbox retry" in post
    assert "090" not in post and "秘密" not in post and "U_ONE" not in post and "U_TWO" not in post

    # An hour later the same cause is posted again, with how often it happened.
    ops.offset[0] = timedelta(hours=1, minutes=1)
    ops.line.fail_next(500, 500, path="/v2/bot/message/push")
    await ops.citizen_writes("U_THREE")
    await wait_for(lambda: len(ops.posts()) == 2)
    assert "3回" not in ops.posts()[0]
    assert "これまでの発生回数：3" in ops.posts()[1]


async def test_the_monthly_limit_is_reported(ops: Ops) -> None:
    ops.line.fail_next("monthly_limit", "monthly_limit", path="/v2/bot/message/push")
    await ops.citizen_writes("U_ONE")
    await ops.citizen_writes("U_TWO")
    await wait_for(lambda: len(ops.posts()) == 1)
    assert "上限" in ops.posts()[0]

    async def both_failed() -> bool:
        return await ops.bot.db.read.outbox.count("failed") == 2

    await wait_for(both_failed)
    assert len(ops.posts()) == 1

    # Staff see it in /madoguchi stats too.
    status, text = await post_signed(
        f"{ops.bot.base_url}/slack/events",
        SLACK_SIGNING_SECRET,
        slash_command("/madoguchi", "stats", "U_STAFF", "C_DEFAULT"),
    )
    assert status == 200
    assert "LINEの月間上限：累計2回" in text  # Bolt answers a command with plain text


async def test_an_event_that_fails_for_good_is_reported(ops: Ops) -> None:
    # Every answer to this citizen is refused by the database (a bug's stand-in): the event fails.
    conn = sqlite3.connect(ops.bot.db.path, isolation_level=None)
    conn.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON outbox WHEN NEW.recipient = 'U_BROKEN'"
        " BEGIN SELECT RAISE(ABORT, 'refused'); END"
    )
    conn.close()
    await ops.citizen_writes("U_BROKEN")
    await wait_for(lambda: len(ops.posts()) == 1)
    assert "受信 #1：IntegrityError" in ops.posts()[0]
    assert "inbox retry" in ops.posts()[0]
    assert await ops.bot.db.read.inbox.count("failed") == 1


async def test_socket_mode_down_for_minutes_is_reported(tmp_path: Path) -> None:
    async with FakeLine(access_token="test-access-token") as line, FakeSlack(app_token="xapp-good") as slack:
        settings = settings_for(tmp_path, line.base_url, slack_api_url=slack.api_url)
        socket_mode = settings.slack.model_copy(
            update={
                "mode": "socket",
                "app_token": "xapp-revoked",
                "ops_channel": OPS,
                "ops_disconnected_minutes": 0.001,
            }
        )
        async with Runtime(settings.model_copy(update={"slack": socket_mode})) as bot:
            assert bot.socket is not None
            socket = bot.socket

            async def reported() -> bool:
                await socket.check()  # what the scheduler does every minute
                return len(slack.texts_in(OPS)) == 1

            await wait_for(reported)
            assert "Socket Mode" in slack.texts_in(OPS)[0]
            await socket.check()  # still down: counted, not posted again within the hour
            [alert] = await bot.db.read.ops_alerts.since(utc_now() - timedelta(hours=1))
            assert alert.cause == "slack_disconnected" and alert.count >= 2
            assert len(slack.texts_in(OPS)) == 1
