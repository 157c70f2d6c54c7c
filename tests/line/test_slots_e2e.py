"""Consultation sessions end to end: signed LINE webhooks into the running bot, the real SDKs, the fake
LINE and (for staff) the fake Slack with signed requests.

Two citizens booking the same slot at once (their webhooks posted concurrently): exactly one gets it,
the other is told it was just taken and shown the free slots; a typed time picks a slot and a typed
cancellation frees it; a consultation sent after booking is linked to the booking, which its case card
shows, and the staff's event list shows the slot with the case number; staff re-slotting a session
over a booking are refused, the booked slot named.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.slack_signing import block_action, post_signed, slash_command, view_submission
from storage.events import Event, EventDraft
from tests.harness import SLACK_SIGNING_SECRET, settings_for, wait_for
from tests.line.test_citizen_events_e2e import Citizen, day_text, saturday_ahead, texts_of

START = saturday_ahead()  # 14:00 in Tokyo: slots 14:00 and 14:40
DAY = day_text(START)
STAFF = "U_STAFF"
CATEGORIES = """
[[consultation.categories]]
id = "npo"
label = "NPOの設立・運営"
channel = "C_NPO"
"""


async def add_session(bot: Runtime, count: int = 2) -> Event:
    draft = EventDraft(
        uid="consult-2027-12",
        kind="consultation-session",
        title="市民協働相談会 12月",
        starts_at=START,
        ends_at=START + timedelta(hours=2),
        venue="横浜市市民協働推進センター",
        capacity=count,
        slot_count=count,
        slot_minutes=40,
    )
    async with bot.db.transaction() as tx:
        return await tx.events.upsert(draft, datetime.now(UTC))


def quick_replies(messages: list[dict[str, Any]]) -> list[str]:
    return [i["action"]["label"] for m in messages for i in (m.get("quickReply") or {}).get("items", [])]


async def test_two_citizens_book_the_same_slot_at_once(bot: Runtime, line: FakeLine) -> None:
    event = await add_session(bot)
    first, _ = await bot.db.read.slots.for_event(event.id)
    hanako, taro = Citizen(bot, line, "U_HANAKO"), Citizen(bot, line, "U_TARO")
    answers = await asyncio.gather(
        hanako.tap(f"event:{event.id}:slot:{first.id}"), taro.tap(f"event:{event.id}:slot:{first.id}")
    )
    said = [texts_of(a) for a in answers]
    assert sum(s.startswith("ご予約を受け付けました") for s in said) == 1
    [late] = [a for a in answers if texts_of(a).startswith("申し訳ありません。その枠はたった今")]
    assert "1. 14:40〜15:20\n2. 一覧に戻る" in texts_of(late)  # the free slots, numbered ...
    assert quick_replies(late) == ["14:40〜15:20", "一覧に戻る"]  # ... and as quick replies
    [booked] = [s for s in await bot.db.read.slots.for_event(event.id) if not s.free]
    assert booked.id == first.id
    assert len(await bot.db.read.registrations.for_event(event.id)) == 1


async def test_a_typed_time_books_and_a_typed_cancellation_frees_it(bot: Runtime, line: FakeLine) -> None:
    event = await add_session(bot)
    hanako = Citizen(bot, line, "U_HANAKO")
    shown = await hanako.type("イベント")
    flex = [m for m in shown if m["type"] == "flex"]
    assert "相談枠：残り2枠です（全2枠・1枠40分）。" in json.dumps(flex, ensure_ascii=False)
    await hanako.type("1")
    asked = await hanako.type("申し込む")
    assert "ご希望の時間をお選びください。" in texts_of(asked)
    booked = await hanako.type("１４：４０")
    assert f"ご予約の時間：{DAY} 14:40〜15:20" in texts_of(booked)
    mine = await hanako.type("申込状況")
    assert f"ご予約の枠：{DAY} 14:40〜15:20" in texts_of(mine)
    await hanako.type("1")
    asked = await hanako.type("キャンセルする")
    assert f"ご予約の時間：{DAY} 14:40〜15:20" in texts_of(asked)
    done = await hanako.type("はい")
    assert "お申し込みをキャンセルしました" in texts_of(done)
    assert all(s.free for s in await bot.db.read.slots.for_event(event.id))


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[tuple[Runtime, FakeLine, FakeSlack]]:
    async with FakeLine(access_token="test-access-token") as line, FakeSlack() as slack:
        slack.set_members("C_NPO", [STAFF])
        slack.set_members("C_DEFAULT", [STAFF])
        settings = settings_for(tmp_path, line.base_url, CATEGORIES, slack_api_url=slack.api_url)
        async with Runtime(settings) as bot:
            yield bot, line, slack


async def test_a_consultation_sent_after_booking_shows_on_its_card_and_in_the_staff_list(
    desk: tuple[Runtime, FakeLine, FakeSlack],
) -> None:
    bot, line, slack = desk
    event = await add_session(bot)
    first, _ = await bot.db.read.slots.for_event(event.id)
    hanako = Citizen(bot, line, "U_HANAKO")
    booked = await hanako.tap(f"event:{event.id}:slot:{first.id}")
    assert "ご相談内容を事前に送る" in quick_replies(booked)
    await hanako.tap("consult")
    for step in ("yes", "npo", "個人"):
        await hanako.tap(step)
    await hanako.type("山田 花子")
    await hanako.type("やまだ はなこ")
    await hanako.tap("line")
    await hanako.type("会の会計について相談したいです。")
    for step in ("flow:done", "flow:skip", "flow:confirm"):
        await hanako.tap(step)

    async def posted() -> bool:
        cases = await bot.db.read.cases.with_status("new")
        return bool(cases) and cases[0].slack_ts is not None

    await wait_for(posted)
    [case] = await bot.db.read.cases.with_status("new")
    card = slack.message("C_NPO", case.slack_ts or "")
    assert card is not None
    shown = json.dumps(card["blocks"], ensure_ascii=False)
    assert f"*相談会の予約*\\n市民協働相談会 12月 ・ {DAY} 14:00〜14:40" in shown
    assert (await bot.db.read.slots.for_case(case.id)) is not None

    # /madoguchi events: each slot with its booking, by case number only.
    url = f"{bot.base_url}/slack/events"
    status, text = await post_signed(
        url, SLACK_SIGNING_SECRET, slash_command("/madoguchi", "events", STAFF, "C_DEFAULT")
    )
    assert status == 200
    listing = json.dumps(json.loads(text)["blocks"], ensure_ascii=False)
    assert f"14:00〜14:40：予約あり（相談 {case.number}）" in listing and "14:40〜15:20：空き" in listing
    assert "山田" not in listing

    # /madoguchi case N shows the booking too (the case channel's staff may read it).
    status, text = await post_signed(
        url, SLACK_SIGNING_SECRET, slash_command("/madoguchi", f"case {case.number}", STAFF, "C_NPO")
    )
    assert status == 200 and "*相談会の予約*" in json.dumps(json.loads(text)["blocks"], ensure_ascii=False)

    # Re-slotting over the booking (40 minutes to 30) is refused under the slots field, nothing saved.
    trigger = slack.issue_trigger_id(STAFF)
    await post_signed(
        url,
        SLACK_SIGNING_SECRET,
        block_action(STAFF, "event_edit", str(event.id), "C_DEFAULT", trigger_id=trigger),
    )
    form = [v for v in slack.views if v.action == "open"][-1]
    values = {
        block["block_id"]: {
            "value": {"type": "plain_text_input", "value": block["element"].get("initial_value", "")}
        }
        for block in form.view["blocks"]
        if block["element"]["type"] == "plain_text_input"
    }
    values["kind"] = {
        "value": {"type": "static_select", "selected_option": {"value": "consultation-session"}}
    }
    values["public"] = {"value": {"type": "static_select", "selected_option": {"value": "1"}}}
    assert values["slots"]["value"]["value"] == "2" and values["slot_minutes"]["value"]["value"] == "40"
    values["slot_minutes"] = {"value": {"type": "plain_text_input", "value": "30"}}
    body = view_submission(STAFF, "event_save", values, str(form.view["private_metadata"]), form.view_id)
    status, answer = await post_signed(url, SLACK_SIGNING_SECRET, body)
    assert status == 200
    errors = slack.answer_view_submission(form.view_id, answer)["errors"]
    assert list(errors) == ["slots"]
    assert f"予約の入っている枠は変更・削除できません：{DAY} 14:00〜14:40：予約あり" in errors["slots"]
    stored = await bot.db.read.events.get(event.id)
    assert stored is not None and stored.slot_minutes == 40
