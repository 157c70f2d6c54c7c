"""An event staff make internal after citizens signed up, end to end (signed webhooks into the running
bot, the real SDK, the fake LINE).

Those who hold a seat or a waitlist place still see it (from 申込状況 and its buttons) and can cancel,
which frees the seat for the first waiting as any cancellation does; nobody signs up for it any more,
and to everyone else it is not found. At a consultation session the same holds for slots.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from storage.events import Event
from tests.harness import wait_for
from tests.line.test_citizen_events_e2e import Citizen, add_event, texts_of
from tests.line.test_slots_e2e import add_session

NOT_FOUND = "このイベントは見つかりませんでした"


async def make_internal(bot: Runtime, event: Event) -> None:
    """What staff do in the event's modal or by re-importing its row with public = 0."""
    async with bot.db.transaction() as tx:
        await tx.events.save(replace(event.draft(), public=False), datetime.now(UTC))


def postbacks(messages: list[dict[str, Any]]) -> list[str]:
    """The data of every button and quick reply the citizen was offered."""
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "postback":
                found.append(str(node.get("data")))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(messages)
    return found


async def test_signed_up_citizens_keep_an_event_made_internal_and_can_cancel(
    bot: Runtime, line: FakeLine
) -> None:
    event = await add_event(bot, "made-internal", capacity=1)
    hanako, taro, jiro = (Citizen(bot, line, u) for u in ("U_HANAKO", "U_TARO", "U_JIRO"))
    assert "お申し込みを受け付けました" in texts_of(await hanako.tap(f"event:{event.id}:register"))
    assert "キャンセル待ちで受け付けました" in texts_of(await taro.tap(f"event:{event.id}:register"))
    await make_internal(bot, event)

    # Someone who never signed up: not found, whatever the button, and signed up for nothing.
    for data in (f"event:{event.id}", f"event:{event.id}:register", f"event:{event.id}:cancel:yes"):
        assert NOT_FOUND in texts_of(await jiro.tap(data))
    assert len(await bot.db.read.registrations.for_event(event.id)) == 2
    assert "made-internal" not in texts_of(await jiro.tap("events"))

    # The seated citizen finds it in 申込状況 and opens it: details and キャンセル, no 申し込む.
    mine = await hanako.type("申込状況")
    assert "ミズベサロン made-internal：お申し込み済みです。" in texts_of(mine)
    details = await hanako.type("1")
    assert NOT_FOUND not in texts_of(details)
    assert "ミズベサロン made-internal" in texts_of(details) and "受付は終了しました" in texts_of(details)
    assert f"event:{event.id}:cancel" in postbacks(details)
    assert f"event:{event.id}:register" not in postbacks(details)
    # A 申し込む tapped again (an old button) signs nobody up: the details are shown.
    again = await hanako.tap(f"event:{event.id}:register")
    assert NOT_FOUND not in texts_of(again) and f"event:{event.id}:cancel" in postbacks(again)

    # The waiting citizen sees their place; their 申し込む does not move them.
    waiting = await taro.tap(f"event:{event.id}")
    assert "キャンセル待ちの1番目です。" in texts_of(waiting)
    assert f"event:{event.id}:cancel" in postbacks(waiting)
    assert "キャンセル待ちの1番目です。" in texts_of(await taro.tap(f"event:{event.id}:register"))

    # Cancelling works as anywhere: the seat goes to the first waiting, who is told by a push.
    assert "キャンセルしますか" in texts_of(await hanako.tap(f"event:{event.id}:cancel"))
    assert "キャンセルしました" in texts_of(await hanako.type("はい"))
    await wait_for(
        lambda: any(
            "お席をご用意できました" in m.message.get("text", "") for m in line.sent_messages(taro.user)
        )
    )
    statuses = {r.user_id: r.status for r in await bot.db.read.registrations.for_event(event.id)}
    assert sorted(statuses.values()) == ["cancelled", "registered"]

    # Having cancelled, Hanako holds nothing there: it is not found for her now, and she cannot re-sign.
    assert NOT_FOUND in texts_of(await hanako.tap(f"event:{event.id}:register"))
    assert sorted(r.status for r in await bot.db.read.registrations.for_event(event.id)) == [
        "cancelled",
        "registered",
    ]

    # Cancelled by staff as well: the one seated still reads that it is called off, and may cancel.
    async with bot.db.transaction() as tx:
        await tx.events.set_status(event.id, "cancelled", datetime.now(UTC))
    called_off = await taro.tap(f"event:{event.id}")
    assert "中止になりました" in texts_of(called_off)
    assert f"event:{event.id}:cancel" in postbacks(called_off)


async def test_a_session_made_internal_keeps_its_bookings_and_takes_no_more(
    bot: Runtime, line: FakeLine
) -> None:
    event = await add_session(bot)
    first, second = await bot.db.read.slots.for_event(event.id)
    hanako, taro = Citizen(bot, line, "U_HANAKO"), Citizen(bot, line, "U_TARO")
    assert texts_of(await hanako.tap(f"event:{event.id}:slot:{first.id}")).startswith(
        "ご予約を受け付けました"
    )
    await make_internal(bot, event)

    # A free slot is not for taking any more: not found for one without a booking, nothing booked.
    assert NOT_FOUND in texts_of(await taro.tap(f"event:{event.id}:slot:{second.id}"))
    # The one booked cannot take a second slot either, but sees theirs and can cancel it.
    shown = await hanako.tap(f"event:{event.id}:slot:{second.id}")
    assert NOT_FOUND not in texts_of(shown) and f"event:{event.id}:cancel" in postbacks(shown)
    assert [s.id for s in await bot.db.read.slots.for_event(event.id) if not s.free] == [first.id]

    await hanako.tap(f"event:{event.id}:cancel")
    assert "キャンセルしました" in texts_of(await hanako.tap(f"event:{event.id}:cancel:yes"))
    assert all(s.free for s in await bot.db.read.slots.for_event(event.id))


async def test_a_time_typed_at_a_session_made_internal_meanwhile_offers_no_slot(
    bot: Runtime, line: FakeLine
) -> None:
    event = await add_session(bot)
    async with bot.db.transaction() as tx:  # two advisors: a typed 14時 fits two slots
        event = await tx.events.upsert(
            replace(event.draft(), slot_advisors="税理士、社会保険労務士"), datetime.now(UTC)
        )
    taro = Citizen(bot, line, "U_TARO")
    assert "1. 14:00〜14:40 税理士" in texts_of(await taro.tap(f"event:{event.id}:register"))
    await make_internal(bot, event)
    said = await taro.type("14時")
    assert "同じ時間の枠が複数あります" not in texts_of(said) and "税理士" not in texts_of(said)
    assert not any(p.startswith(f"event:{event.id}:slot:") for p in postbacks(said))
    assert await bot.db.read.registrations.for_event(event.id) == []
