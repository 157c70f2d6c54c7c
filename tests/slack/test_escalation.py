"""Unclaimed cases are mentioned, then escalated, counting business minutes (injected clock)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.fake_slack import FakeSlack
from tests.harness import settings_for, wait_for
from tests.line.test_intake_e2e import USER, Citizen
from tests.slack.test_desk_e2e import CATEGORIES, STAFF, Desk, card_posted, submit_intake

TOKYO = ZoneInfo("Asia/Tokyo")
ESCALATION = """
[business_hours]
monday = "09:00-17:00"
tuesday = "09:00-17:00"
wednesday = "09:00-17:00"
thursday = "09:00-17:00"
friday = "09:00-17:00"
unclaimed_mention_minutes = 60
escalate_after_minutes = 240
"""


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def clock_and_desk(tmp_path: Path) -> AsyncIterator[tuple[Clock, Desk]]:
    clock = Clock(datetime(2026, 11, 20, 16, 30, tzinfo=TOKYO))  # a Friday, half an hour before closing
    async with FakeLine(access_token="test-access-token") as line, FakeSlack() as slack:
        line.set_profile(USER, "山田 花子")
        slack.set_members("C_NPO", [STAFF])
        settings = settings_for(tmp_path, line.base_url, CATEGORIES + ESCALATION, slack_api_url=slack.api_url)
        settings = settings.model_copy(
            update={"slack": settings.slack.model_copy(update={"escalation_channel": "C_ESCALATION"})}
        )
        async with Runtime(settings, clock=clock) as bot:
            yield clock, Desk(bot, line, slack)


async def test_escalation_across_a_weekend_and_a_public_holiday(clock_and_desk: tuple[Clock, Desk]) -> None:
    clock, desk = clock_and_desk
    await submit_intake(Citizen(desk.bot.base_url, desk.line))
    case = await card_posted(desk)

    # 60 business minutes: 30 on Friday, then Saturday, Sunday and Monday 23rd (勤労感謝の日) are closed.
    for moment in (
        datetime(2026, 11, 21, 12, 0),
        datetime(2026, 11, 23, 16, 0),
        datetime(2026, 11, 24, 9, 29),
    ):
        clock.now = moment.replace(tzinfo=TOKYO)
        assert await desk.bot.escalation.run() == 0
    clock.now = datetime(2026, 11, 24, 9, 30, tzinfo=TOKYO)
    assert await desk.bot.escalation.run() == 1
    await wait_for(lambda: any("未対応の相談です" in t for t in desk.thread(case)))
    assert any(t.startswith("<!here>") for t in desk.thread(case))
    assert await desk.bot.escalation.run() == 0  # once

    # 240 business minutes: Tuesday 12:30.
    clock.now = datetime(2026, 11, 24, 12, 29, tzinfo=TOKYO)
    assert await desk.bot.escalation.run() == 0
    clock.now = datetime(2026, 11, 24, 12, 30, tzinfo=TOKYO)
    assert await desk.bot.escalation.run() == 1
    await wait_for(lambda: bool(desk.slack.texts_in("C_ESCALATION")))
    [posted] = desk.slack.texts_in("C_ESCALATION")
    assert case.number in posted and "<#C_NPO>" in posted
    clock.now = datetime(2026, 11, 25, 12, 0, tzinfo=TOKYO)
    assert await desk.bot.escalation.run() == 0


async def test_a_claimed_case_is_not_escalated(clock_and_desk: tuple[Clock, Desk]) -> None:
    clock, desk = clock_and_desk
    await submit_intake(Citizen(desk.bot.base_url, desk.line))
    case = await card_posted(desk)
    assert (await desk.press(case, "case_claim"))[0] == 200
    clock.now = datetime(2026, 11, 30, 12, 0, tzinfo=TOKYO)
    assert await desk.bot.escalation.run() == 0


async def test_out_of_hours_the_citizen_is_told_when_it_will_be_read(
    clock_and_desk: tuple[Clock, Desk],
) -> None:
    clock, desk = clock_and_desk
    clock.now = datetime(2026, 11, 21, 20, 0, tzinfo=TOKYO)  # Saturday evening
    citizen = Citizen(desk.bot.base_url, desk.line)
    await submit_intake(citizen)
    await wait_for(lambda: "受付時間外" in desk.line.sent_messages(USER)[-1].message.get("text", ""))
    assert "11月24日 9:00以降" in desk.line.sent_messages(USER)[-1].message["text"]
