"""Events for citizens end to end: signed webhooks into the running bot, the real SDK, the fake LINE.

Two citizens taking the last seat at the same moment (their webhooks posted concurrently): exactly one
gets it, the other is waitlisted and told the position; a cancellation gives the seat to the first on
the waitlist, who is told by a push; 申込状況 lists both; the carousel goes out as Flex with ≤12 bubbles.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.clock import utc_now
from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.line_webhook import postback_event, text_event
from storage.events import Event, EventDraft
from tests.harness import event_answered, post_events, wait_for

TOKYO = ZoneInfo("Asia/Tokyo")


def saturday_ahead() -> datetime:
    """14:00 in Tokyo on a Saturday five to six weeks after today. The bot runs on the real clock and
    offers citizens only events to come: a fixed date (2027-12-04 was) would fall behind it one day."""
    day = utc_now().astimezone(TOKYO).date() + timedelta(weeks=5)
    day += timedelta(days=(5 - day.weekday()) % 7)
    return datetime.combine(day, time(14, 0), TOKYO).astimezone(UTC)


def day_text(moment: datetime) -> str:
    """The day as citizens read it: 12月4日(土)."""
    local = moment.astimezone(TOKYO)
    return f"{local.month}月{local.day}日({'月火水木金土日'[local.weekday()]})"


START = saturday_ahead()


class Citizen:
    def __init__(self, bot: Runtime, line: FakeLine, user: str) -> None:
        self.bot, self.line, self.user = bot, line, user

    def event(self, kind: str, what: str) -> dict[str, Any]:
        token = self.line.issue_reply_token(self.user)
        if kind == "tap":
            return postback_event(self.user, what, reply_token=token)
        return text_event(self.user, what, reply_token=token)

    async def send(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        before = len(self.line.sent_messages(self.user))
        assert (await post_events(self.bot.base_url, [event]))[0] == 200
        await wait_for(lambda: event_answered(self.bot.db.read, self.user, event))
        return [m.message for m in self.line.sent_messages(self.user)[before:]]

    async def type(self, text: str) -> list[dict[str, Any]]:
        return await self.send(self.event("type", text))

    async def tap(self, data: str) -> list[dict[str, Any]]:
        return await self.send(self.event("tap", data))


def texts_of(messages: list[dict[str, Any]]) -> str:
    return "\n".join(m.get("text", "") for m in messages)


async def add_event(bot: Runtime, uid: str, capacity: int | None, starts_at: datetime = START) -> Event:
    draft = EventDraft(
        uid=uid,
        kind="ミズベサロン",
        title=f"ミズベサロン {uid}",
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=2),
        venue="横浜市市民協働推進センター",
        capacity=capacity,
    )
    async with bot.db.transaction() as tx:
        return await tx.events.upsert(draft, datetime.now().astimezone())


async def test_two_citizens_take_the_last_seat_at_once(bot: Runtime, line: FakeLine) -> None:
    event = await add_event(bot, "last-seat", capacity=1)
    hanako, taro = Citizen(bot, line, "U_HANAKO"), Citizen(bot, line, "U_TARO")
    answers = await asyncio.gather(
        hanako.tap(f"event:{event.id}:register"), taro.tap(f"event:{event.id}:register")
    )
    said = [texts_of(a) for a in answers]
    assert sum("お申し込みを受け付けました" in s for s in said) == 1
    assert sum("キャンセル待ちで受け付けました。現在1番目です" in s for s in said) == 1
    registrations = await bot.db.read.registrations.for_event(event.id)
    assert sorted(r.status for r in registrations) == ["registered", "waitlisted"]
    assert await bot.db.read.registrations.seats_taken(event.id) == 1

    # The one who got the seat cancels (asked first, by typing); the waiting one is told by a push.
    seated, waiting = (hanako, taro) if "受け付けました。当日" in said[0] else (taro, hanako)
    asked = await seated.tap(f"event:{event.id}:cancel")
    assert "キャンセルしますか" in texts_of(asked)
    pushes_before = len(line.find_requests(path="/v2/bot/message/push"))
    assert "キャンセルしました" in texts_of(await seated.type("1"))
    await wait_for(
        lambda: any(
            "お席をご用意できました" in m.message.get("text", "") for m in line.sent_messages(waiting.user)
        )
    )
    pushes = line.find_requests(path="/v2/bot/message/push")[pushes_before:]
    assert [p.json["to"] for p in pushes if p.json] == [waiting.user]
    mine = await waiting.type("申込状況")
    assert f"1. {day_text(START)} 14:00〜16:00 ミズベサロン last-seat：お申し込み済みです。" in texts_of(mine)


async def test_events_are_a_flex_carousel_of_at_most_twelve_then_next(bot: Runtime, line: FakeLine) -> None:
    for n in range(13):
        await add_event(bot, f"e{n:02d}", capacity=5, starts_at=START + timedelta(days=n))
    hanako = Citizen(bot, line, "U_HANAKO")
    first = await hanako.tap("events")
    flex = [m for m in first if m["type"] == "flex"]
    assert len(flex) == 1 and len(flex[0]["contents"]["contents"]) == 12
    bubble = flex[0]["contents"]["contents"][0]
    body = [c["text"] for c in bubble["body"]["contents"]]
    assert body[:2] == ["ミズベサロン e00", f"{day_text(START)} 14:00〜16:00"]
    actions = [b["action"] for b in bubble["footer"]["contents"]]
    assert actions[-1]["type"] == "uri" and actions[-1]["uri"].startswith("https://calendar.google.com/")
    items = first[-1]["quickReply"]["items"]
    assert [i["action"]["data"] for i in items] == ["events:1", "menu"]
    second = await hanako.type("次へ")
    flex = [m for m in second if m["type"] == "flex"]
    assert len(flex[0]["contents"]["contents"]) == 1
    details = await hanako.type("13")
    assert "ミズベサロン e12" in texts_of(details)
    assert day_text(START + timedelta(days=12)) in texts_of(details)
    signed = await hanako.type("申し込む")
    assert "お申し込みを受け付けました" in texts_of(signed)
