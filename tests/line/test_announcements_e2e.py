"""Announcements end to end: citizens choose kinds in 配信設定 (typed, tapped, or answering the question
after a sign-up), one sends 配信停止, one unfollows; `madoguchi events announce` then reaches exactly the
subscribers of the event's kind, checked in the fake LINE's recorded multicasts; ≤500 per request."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.announce import announce_command
from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.line_webhook import unfollow_event
from storage.events import Event, EventDraft
from tests.harness import post_events, wait_for
from tests.line.test_citizen_events_e2e import Citizen, texts_of
from tests.line.test_line_commands import run

MULTICAST = "/v2/bot/message/multicast"


async def add_event(bot: Runtime, uid: str, kind: str = "salon") -> Event:
    starts = datetime.now(UTC) + timedelta(days=14)
    draft = EventDraft(
        uid=uid, kind=kind, title=f"川辺の交流会 {uid}", starts_at=starts, venue="象の鼻テラス"
    )
    async with bot.db.transaction() as tx:
        return await tx.events.upsert(draft, datetime.now(UTC))


def multicast_recipients(line: FakeLine) -> list[list[str]]:
    return [list(r.json["to"]) for r in line.find_requests(path=MULTICAST) if r.json is not None]


async def test_an_announcement_reaches_exactly_the_subscribers_of_its_kind(
    tmp_path: Path, bot: Runtime, line: FakeLine, capsys: pytest.CaptureFixture[str]
) -> None:
    hanako, taro, jiro = (
        Citizen(bot, line, "U_HANAKO"),
        Citizen(bot, line, "U_TARO"),
        Citizen(bot, line, "U_JIRO"),
    )
    saburo, shiro = Citizen(bot, line, "U_SABURO"), Citizen(bot, line, "U_SHIRO")

    settings = await hanako.type("配信設定")
    assert "1. ミズベサロン：受け取らない" in texts_of(settings)
    assert "ミズベサロンのお知らせを受け取ります。" in texts_of(await hanako.type("１"))  # full-width
    await taro.tap("subs:toggle:salon")
    stopped = await taro.type("配信を止めて")
    assert "配信を停止しました" in texts_of(stopped) and "「配信再開」" in texts_of(stopped)
    await jiro.tap("subs:toggle:salon")
    assert (await post_events(bot.base_url, [unfollow_event("U_JIRO")]))[0] == 200

    async def unfollowed() -> bool:
        user = await bot.db.read.users.by_line_id("U_JIRO")
        return user is not None and not user.following

    await wait_for(unfollowed)
    await saburo.type("配信設定")
    assert "市民活動基礎セミナーのお知らせを受け取ります。" in texts_of(await saburo.type("3"))
    # Shiro signs up for a salon and says yes to the question that follows.
    first = await add_event(bot, "first")
    signed = await shiro.tap(f"event:{first.id}:register")
    assert "ミズベサロンの新しいイベントが決まったら" in texts_of(signed)
    assert [i["action"]["data"] for i in signed[-1]["quickReply"]["items"]] == [
        "subs:offer:salon:yes",
        "subs:offer:salon:no",
    ]
    assert "お知らせします" in texts_of(await shiro.type("はい"))

    event = await add_event(bot, "new")
    code = await run(tmp_path / "config.toml", "events", "announce", str(event.id), "--yes")
    out = capsys.readouterr().out
    assert code == 0, out
    assert "recipients: 2" in out and "cost: 2 messages" in out and "quota this month: 200" in out
    bot.outbox.wake()  # queued by another process: serve also finds it on its next look (≤30 s)
    await wait_for(lambda: len(multicast_recipients(line)) == 1)
    assert sorted(multicast_recipients(line)[0]) == ["U_HANAKO", "U_SHIRO"]
    [told] = [
        m.message
        for m in line.sent_messages("U_HANAKO")
        if "📣 新しいイベントのお知らせ" in m.message.get("text", "")
    ]
    assert "「川辺の交流会 new」" in told["text"] and "場所：象の鼻テラス" in told["text"]
    # 詳しく見る on the announcement opens the event, where the citizen signs up.
    details = await hanako.tap(told["quickReply"]["items"][0]["action"]["data"])
    assert "川辺の交流会 new" in texts_of(details) and "申し込む" in texts_of(details)

    # Announced once: the command refuses a second time, and nothing more is queued.
    again = await run(tmp_path / "config.toml", "events", "announce", str(event.id), "--yes")
    assert again == 2 and "announced already" in capsys.readouterr().err
    assert len(multicast_recipients(line)) == 1


async def test_the_command_asks_first_and_refuses_what_cannot_be_announced(
    bot: Runtime, line: FakeLine, capsys: pytest.CaptureFixture[str]
) -> None:
    event = await add_event(bot, "asked")
    async with bot.db.transaction() as tx:
        user = await tx.users.mark_followed("U_HANAKO", datetime.now(UTC))
        await tx.subscriptions.choose(user.id, "salon", True, datetime.now(UTC))
    questions: list[str] = []

    def no(question: str) -> str:
        questions.append(question)
        return "n"

    code = await asyncio.to_thread(lambda: asyncio.run(announce_command(bot.settings, event.id, False, no)))
    assert code == 1 and questions == ["Send the announcement to 1 citizens? [y/N] "]
    assert "nothing sent" in capsys.readouterr().out
    assert await bot.db.read.announcements.get(event.id) is None
    missing = await asyncio.to_thread(lambda: asyncio.run(announce_command(bot.settings, 9999, True)))
    assert missing == 2 and "no such event" in capsys.readouterr().err


async def test_more_than_500_subscribers_go_in_batches_of_500(
    tmp_path: Path, bot: Runtime, line: FakeLine
) -> None:
    line.quota = 1000
    now = datetime.now(UTC)
    async with bot.db.transaction() as tx:
        for n in range(501):
            user = await tx.users.mark_followed(f"U{n:032d}", now)
            await tx.subscriptions.choose(user.id, "seminar", True, now)
    event = await add_event(bot, "big", kind="seminar")
    assert await run(tmp_path / "config.toml", "events", "announce", str(event.id), "--yes") == 0
    bot.outbox.wake()
    await wait_for(lambda: len(multicast_recipients(line)) == 2)
    sizes = sorted(len(to) for to in multicast_recipients(line))
    assert sizes == [1, 500]
    assert len({u for to in multicast_recipients(line) for u in to}) == 501
