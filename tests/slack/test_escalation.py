"""Unclaimed cases are mentioned, then escalated, counting business minutes (injected clock)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.slack_signing import event_callback, message_event
from storage.cases import Case
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


async def test_a_claimed_case_is_not_escalated_as_unclaimed(clock_and_desk: tuple[Clock, Desk]) -> None:
    clock, desk = clock_and_desk
    await submit_intake(Citizen(desk.bot.base_url, desk.line))
    case = await card_posted(desk)
    assert (await desk.press(case, "case_claim"))[0] == 200
    clock.now = datetime(
        2026, 11, 26, 12, 0, tzinfo=TOKYO
    )  # long past both thresholds, before the answer date
    assert await desk.bot.escalation.run() == 0


async def test_out_of_hours_the_citizen_is_told_when_it_will_be_read(
    clock_and_desk: tuple[Clock, Desk],
) -> None:
    clock, desk = clock_and_desk
    clock.now = datetime(2026, 11, 21, 20, 0, tzinfo=TOKYO)  # Saturday evening
    citizen = Citizen(desk.bot.base_url, desk.line)
    # Told as soon as the consultation starts, before the first question.
    started = await citizen.type("相談する")
    assert "受付時間外" in started[0]["text"] and "11月24日(火) 9:00以降" in started[0]["text"]
    assert "受付時間外" not in started[-1]["text"]
    await citizen.tap("flow:cancel")
    await submit_intake(citizen)
    await wait_for(lambda: "受付時間外" in desk.line.sent_messages(USER)[-1].message.get("text", ""))
    assert "11月24日(火) 9:00以降" in desk.line.sent_messages(USER)[-1].message["text"]
    # Taken in on Tuesday (Monday 23rd is 勤労感謝の日): answered by Friday.
    received = desk.line.sent_messages(USER)[-2].message["text"]
    assert "11月27日(金)までに" in received and "土日祝日・年末年始を除く3日以内" in received
    case = await card_posted(desk)
    assert case.received_out_of_hours
    assert case.answer_due_at == datetime(2026, 11, 27, 17, 0, tzinfo=TOKYO)
    shown = card_shown(desk, case)
    assert "（時間外受付）" in shown and "11月27日(金) 17:00" in shown


def card_shown(desk: Desk, case: Case) -> str:
    card = desk.slack.message(case.slack_channel or "", case.slack_ts or "")
    assert card is not None
    return json.dumps(card["blocks"], ensure_ascii=False)


async def test_the_card_shows_the_answer_date_and_the_citizens_earlier_cases(
    clock_and_desk: tuple[Clock, Desk],
) -> None:
    clock, desk = clock_and_desk
    citizen = Citizen(desk.bot.base_url, desk.line)
    await submit_intake(citizen)
    first = await card_posted(desk)
    shown = card_shown(desk, first)
    # Friday 20th, open: Monday 23rd is a holiday, so Tuesday, Wednesday, Thursday.
    assert "回答期限" in shown and "11月26日(木) 17:00" in shown
    assert "（時間外受付）" not in shown
    assert "これまでの相談：（なし）" in shown
    assert "山田 花子（やまだ はなこ）" in shown  # the ふりがな, for calling back
    assert "11月26日(木)までに" in desk.line.sent_messages(USER)[-1].message["text"]

    clock.now = datetime(2026, 11, 24, 10, 0, tzinfo=TOKYO)
    await submit_intake(citizen)

    async def second_posted() -> bool:
        cases = await desk.bot.db.read.cases.with_status("new")
        return len(cases) == 2 and cases[1].slack_ts is not None

    await wait_for(second_posted)
    second = (await desk.bot.db.read.cases.with_status("new"))[1]
    shown = card_shown(desk, second)
    assert f"これまでの相談：{first.number}" in shown
    assert "11月27日(金) 17:00" in shown


async def test_a_case_not_answered_by_its_date_is_escalated_once(clock_and_desk: tuple[Clock, Desk]) -> None:
    clock, desk = clock_and_desk
    await submit_intake(Citizen(desk.bot.base_url, desk.line))
    case = await card_posted(desk)
    # Claimed at once, so only the promise can make it late.
    assert (await desk.press(case, "case_claim"))[0] == 200
    await wait_for(lambda: any("担当になりました" in t for t in desk.thread(case)))

    # Received Friday 16:30; three days counted without the weekend and Monday 23rd (勤労感謝の日):
    # due Thursday 26th at closing time. Counting the holiday would make it Wednesday, counting the
    # weekend Monday.
    for moment in (
        datetime(2026, 11, 23, 17, 0),
        datetime(2026, 11, 25, 17, 0),
        datetime(2026, 11, 26, 16, 59),
    ):
        clock.now = moment.replace(tzinfo=TOKYO)
        assert await desk.bot.escalation.run() == 0, moment
    clock.now = datetime(2026, 11, 26, 17, 0, tzinfo=TOKYO)
    assert await desk.bot.escalation.run() == 1
    await wait_for(lambda: any("回答期限" in t for t in desk.thread(case)))
    [mention] = [t for t in desk.thread(case) if "回答期限" in t]
    assert mention.startswith("<!here>") and "11月26日(木) 17:00" in mention
    await wait_for(lambda: bool(desk.slack.texts_in("C_ESCALATION")))
    [posted] = desk.slack.texts_in("C_ESCALATION")
    assert case.number in posted and "<#C_NPO>" in posted and "回答期限" in posted
    clock.now = datetime(2026, 11, 30, 12, 0, tzinfo=TOKYO)
    assert await desk.bot.escalation.run() == 0  # once


async def test_a_case_answered_in_time_is_not_escalated(clock_and_desk: tuple[Clock, Desk]) -> None:
    clock, desk = clock_and_desk
    await submit_intake(Citizen(desk.bot.base_url, desk.line))
    case = await card_posted(desk)
    assert (await desk.press(case, "case_claim"))[0] == 200
    answer = event_callback(
        message_event("C_NPO", STAFF, "返信:ご連絡ありがとうございます。", thread_ts=case.slack_ts)
    )
    assert (await desk.post(answer))[0] == 200
    await wait_for(lambda: "✅ 相談者に送信しました。" in desk.thread(case))
    clock.now = datetime(2026, 12, 10, 12, 0, tzinfo=TOKYO)
    assert await desk.bot.escalation.run() == 0
    assert not any("回答期限" in t for t in desk.thread(case))
