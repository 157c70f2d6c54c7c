"""The questionnaire after an event, end to end: the running bot (its clock injected), signed webhooks, the
real LINE and Slack SDKs against the fakes. It goes once to those with a seat who follow; answers come by
tap and by typing; the summary reaches the events channel when it closes; a late answer is not counted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.event_digest import survey_report
from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.fake_slack import FakeSlack
from storage.events import EventDraft
from tests.harness import wait_for
from tests.line.test_citizen_events_e2e import Citizen, texts_of
from tests.test_event_digest import with_events_channel

CHANNEL = "C_EVENTS"
MULTICAST = "/v2/bot/message/multicast"
QUESTIONNAIRE = """
[events.questionnaire]
enabled = true
send_after = "2h"
close_after = "3d"
"""
HANAKO, TARO, JIRO, GONE, QUIT = "U_HANAKO", "U_TARO", "U_JIRO", "U_GONE", "U_QUIT"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    bot: Runtime
    line: FakeLine
    slack: FakeSlack
    clock: Clock


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with FakeLine(access_token="test-access-token") as line, FakeSlack() as slack:
        settings = with_events_channel(
            tmp_path, line.base_url, CHANNEL, QUESTIONNAIRE, slack_api_url=slack.api_url
        )
        clock = Clock(datetime.now(UTC))
        async with Runtime(settings, clock) as bot:
            yield World(bot, line, slack, clock)


async def held_event(world: World, uid: str, kind: str = "salon", public: bool = True) -> int:
    """An event that ended 2 hours and a minute ago, with sign-ups of every kind."""
    ends = world.clock.now - timedelta(hours=2, minutes=1)
    draft = EventDraft(
        uid=uid, kind=kind, title=f"ミズベサロン {uid}", starts_at=ends - timedelta(hours=2), ends_at=ends,
        venue="横浜市市民協働推進センター", capacity=10, public=public,
    )  # fmt: skip
    now = world.clock.now
    async with world.bot.db.transaction() as tx:
        event = await tx.events.upsert(draft, now)
        for line_id, status in ((HANAKO, "registered"), (TARO, "registered"), (JIRO, "waitlisted"),
                                (GONE, "registered"), (QUIT, "cancelled")):  # fmt: skip
            user = await tx.users.mark_followed(line_id, now)
            await tx.registrations.put(event.id, user.id, status, 1, now)  # type: ignore[arg-type]
        await tx.users.mark_unfollowed(GONE, now)
    return event.id


async def test_questionnaire_tap_type_summary_and_a_late_answer(world: World, tmp_path: Path) -> None:
    bot, line, slack, clock = world.bot, world.line, world.slack, world.clock
    event_id = await held_event(world, "q1")
    await held_event(world, "cancelled-one")
    async with bot.db.transaction() as tx:
        cancelled = await tx.events.by_uid("cancelled-one")
        assert cancelled is not None
        await tx.events.set_status(cancelled.id, "cancelled", clock.now)
    await held_event(world, "meeting", kind="network-meeting")

    await bot.reminders.run()
    await bot.reminders.run()  # a second sweep sends nothing more
    await wait_for(lambda: len(line.find_requests(path=MULTICAST)) >= 1)
    [request] = line.find_requests(path=MULTICAST)
    assert request.json is not None and request.json["to"] == [HANAKO, TARO]  # seated and following only
    [message] = request.json["messages"]
    assert "「ミズベサロン q1」にお申し込みいただき" in message["text"]
    assert "（1/2）イベントの満足度を教えてください。\n1. 満足\n2. やや満足" in message["text"]
    taps = [i["action"]["data"] for i in message["quickReply"]["items"]]
    assert taps == [f"survey:{event_id}:1:{n}" for n in range(1, 5)]

    hanako, taro, jiro = Citizen(bot, line, HANAKO), Citizen(bot, line, TARO), Citizen(bot, line, JIRO)
    first = await hanako.tap(f"survey:{event_id}:1:2")
    assert "（2/2）また参加したいと思いますか？" in texts_of(first)
    await hanako.tap(f"survey:{event_id}:1:2")  # a double tap: still one answer
    assert "ご回答ありがとうございました" in texts_of(await hanako.type("１"))  # question 2, by its number
    assert "（1/2）イベントの満足度" in texts_of(await taro.type("アンケート"))  # the question waiting, again
    assert "（2/2）" in texts_of(await taro.type("満足"))  # a whole label, not やや満足
    assert "お答えいただけません" in texts_of(
        await jiro.tap(f"survey:{event_id}:1:1")
    )  # waitlisted: not asked
    survey = await bot.db.read.questionnaire.survey(event_id)
    assert survey is not None and survey.asked == 2
    tally = await bot.db.read.questionnaire.tally(survey)
    assert tally.counts == ((1, 1, 0, 0), (1, 0, 0)) and tally.answered == 2

    clock.now = survey.closes_at + timedelta(seconds=1)
    late = await taro.type("1")  # after the close: not an answer any more
    assert "（2/2）" not in texts_of(late) and "ご回答" not in texts_of(late)
    assert "受付は終了しました" in texts_of(await taro.tap(f"survey:{event_id}:2:1"))
    await bot.reminders.run()
    await bot.reminders.run()
    await wait_for(lambda: len(slack.messages_in(CHANNEL)) >= 1)
    [summary] = slack.messages_in(CHANNEL)
    text = "\n".join(b["text"]["text"] for b in summary["blocks"])
    assert "*アンケート結果：ミズベサロン q1*" in text and "回答：2名 / お送りした2名" in text
    assert (
        "*1. イベントの満足度を教えてください。*（回答2名）\n・満足：1名（50%）\n・やや満足：1名（50%）"
        in text
    )
    assert "・やや不満：0名（0%）" in text
    assert "*2. また参加したいと思いますか？*（回答1名）\n・ぜひ参加したい：1名（100%）" in text
    assert len(line.find_requests(path=MULTICAST)) == 1  # nothing for the cancelled event or the meeting
    assert await bot.db.read.questionnaire.tally(survey) == tally  # the late answers changed nothing

    report = tmp_path / "survey.csv"
    assert await survey_report(bot.settings, str(event_id), str(report)) == 0
    rows = report.read_text(encoding="utf-8-sig").splitlines()
    assert rows[0] == "question,text,choice,count,percent,answered,respondents,asked,closed"
    assert rows[1] == "1,イベントの満足度を教えてください。,満足,1,50.0,2,2,2,1"
    assert rows[5] == "2,また参加したいと思いますか？,ぜひ参加したい,1,100.0,1,2,2,1"
