"""イベント, 申込状況, 申し込む, the waitlist and キャンセル at the front desk, against the real storage."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlparse

from flows.context import Notify
from flows.desk import Reply
from flows.events import calendar_url
from flows.messages import Card, Carousel, Choice, Link, Text
from storage import Database
from storage.events import Event, EventDraft
from tests.conftest import NOW
from tests.flows.test_desk import MENU, TEXTS, Citizen, at_name
from tests.flows.test_desk import citizen as citizen

# 12月5日(土) 14:00–16:00 in Tokyo.
START = datetime.fromisoformat("2026-12-05T05:00:00+00:00")


async def add_event(db: Database, uid: str = "salon", capacity: int | None = 1, **more: object) -> Event:
    values: dict[str, object] = {
        "uid": uid,
        "kind": "ミズベサロン",
        "title": f"ミズベサロン {uid}",
        "starts_at": START,
        "ends_at": START + timedelta(hours=2),
        "venue": "横浜市市民協働推進センター",
        "capacity": capacity,
        **more,
    }
    async with db.transaction() as tx:
        return await tx.events.upsert(EventDraft(**values), NOW)  # type: ignore[arg-type]


def last_text(reply: Reply) -> str:
    """The last text the citizen reads before the menu."""
    texts = [m.text for m in reply.messages if isinstance(m, Text) and m != MENU]
    assert texts, reply
    return texts[-1]


async def test_events_show_a_carousel_with_date_weekday_place_and_seats(
    db: Database, citizen: Citizen
) -> None:
    await add_event(db, capacity=3, online_url="https://example.jp/zoom")
    await add_event(db, uid="internal", public=False)
    reply = await citizen.say("イベント")
    carousel, listing = reply.messages
    assert isinstance(carousel, Carousel) and isinstance(listing, Text)
    [card] = carousel.cards
    assert card.title == "ミズベサロン salon"
    assert card.lines[0] == "12月5日(土) 14:00〜16:00"
    assert "会場：横浜市市民協働推進センター" in card.lines
    assert "オンライン開催" in card.lines
    assert "残り3席です（定員3名）。" in card.lines
    assert "https://example.jp/zoom" not in repr(card)  # the online address only for those signed up
    assert [b.label for b in card.buttons] == ["詳しく見る", "申し込む", "カレンダーに追加"]
    assert isinstance(card.buttons[2], Link)
    assert "1. 12月5日(土) 14:00〜16:00 ミズベサロン salon" in listing.text
    assert listing.choices == (Choice("メニュー", "menu"),)


async def test_typed_number_details_then_typed_sign_up(db: Database, citizen: Citizen) -> None:
    await add_event(db, capacity=2, online_url="https://example.jp/zoom")
    await citizen.say("イベント")
    details = await citizen.say("１")
    [message] = details.messages
    assert isinstance(message, Text)
    assert "日時：12月5日(土) 14:00〜16:00" in message.text
    assert "オンライン：お申し込みの方にご案内します" in message.text
    assert "calendar.google.com" in message.text
    assert "1. 申し込む\n2. 一覧に戻る" in message.text
    done = await citizen.say("申し込みます")
    assert done.messages[-1] == MENU
    said = done.messages[0]
    assert isinstance(said, Text) and said.text.startswith("お申し込みを受け付けました。")
    assert "オンライン：https://example.jp/zoom" in said.text
    assert await citizen.conversation() is None


async def test_the_last_seat_then_the_waitlist_with_its_position(db: Database, citizen: Citizen) -> None:
    event = await add_event(db, capacity=1)
    other = Citizen(db, line_id="U_TARO")
    third = Citizen(db, line_id="U_JIRO")
    assert "受け付けました" in last_text(await citizen.tap(f"event:{event.id}:register"))
    waiting = last_text(await other.tap(f"event:{event.id}:register"))
    assert waiting.startswith("満席のため、キャンセル待ちで受け付けました。現在1番目です。")
    assert "現在2番目" in last_text(await third.tap(f"event:{event.id}:register"))
    again = await other.tap(f"event:{event.id}:register")
    assert last_text(again) == TEXTS.get("events.already_waitlisted", position=1)
    # The card says it is full and offers the waitlist.
    carousel = (await Citizen(db, line_id="U_NEW").say("イベント")).messages[0]
    assert isinstance(carousel, Carousel)
    assert TEXTS.get("events.full") in carousel.cards[0].lines
    assert "キャンセル待ちに申し込む" in [b.label for b in carousel.cards[0].buttons]


async def test_cancel_asks_then_promotes_the_first_waiting_and_tells_them(
    db: Database, citizen: Citizen
) -> None:
    event = await add_event(db, capacity=1)
    other = Citizen(db, line_id="U_TARO")
    await citizen.tap(f"event:{event.id}:register")
    await other.tap(f"event:{event.id}:register")
    question = await citizen.tap(f"event:{event.id}:cancel")
    [asked] = question.messages
    assert isinstance(asked, Text) and asked.text.startswith("次のお申し込みをキャンセルしますか？")
    kept = await citizen.say("いいえ")
    assert last_text(kept) == TEXTS.get("events.cancel_kept")
    await citizen.tap(f"event:{event.id}:cancel")
    done = await citizen.say("はい")
    assert last_text(done).startswith("お申し込みをキャンセルしました。")
    taro = await other.user()
    [notify] = done.notify
    assert isinstance(notify, Notify) and notify.user_id == taro.id
    assert isinstance(notify.messages[0], Text)
    assert notify.messages[0].text.startswith("キャンセル待ちのイベントにお席をご用意できました。")
    registration = await db.read.registrations.of(event.id, taro.id)
    assert registration is not None and registration.status == "registered"
    # A second confirmation cancels nothing more and promotes nobody.
    again = await citizen.tap(f"event:{event.id}:cancel:yes")
    assert last_text(again) == TEXTS.get("events.nothing_to_cancel") and again.notify == []


async def test_registrations_list_the_citizens_sign_ups_and_places(db: Database, citizen: Citizen) -> None:
    assert (await citizen.say("申込状況")).messages == [Text(TEXTS.get("events.mine_none")), MENU]
    full = await add_event(db, uid="full", capacity=0)
    later = await add_event(db, uid="later", capacity=None, starts_at=START + timedelta(days=1), ends_at=None)
    await citizen.tap(f"event:{full.id}:register")
    await citizen.tap(f"event:{later.id}:register")
    reply = await citizen.tap("registrations")
    listing = reply.messages[-1]
    assert isinstance(listing, Text)
    assert "1. 12月5日(土) 14:00〜16:00 ミズベサロン full：キャンセル待ちの1番目です。" in listing.text
    assert "2. 12月6日(日) 14:00 ミズベサロン later：お申し込み済みです。" in listing.text
    details = await citizen.say("2")
    assert "キャンセルする" in last_text(details)
    assert "キャンセルしますか" in last_text(await citizen.say("キャンセル"))


async def test_more_than_twelve_events_are_paged_and_numbered_across_pages(
    db: Database, citizen: Citizen
) -> None:
    for n in range(14):
        await add_event(db, uid=f"e{n:02d}", starts_at=START + timedelta(days=n), ends_at=None)
    first = await citizen.say("イベント")
    carousel, listing = first.messages
    assert isinstance(carousel, Carousel) and len(carousel.cards) == 12
    assert isinstance(listing, Text) and Choice("次へ", "events:1") in listing.choices
    second = await citizen.say("次へ")
    carousel, listing = second.messages
    assert isinstance(carousel, Carousel) and len(carousel.cards) == 2
    assert isinstance(listing, Text) and "13. " in listing.text and "全14件のうち13〜14件目" in listing.text
    details = await citizen.say("14")
    assert "ミズベサロン e13" in last_text(details)


async def test_events_in_the_middle_of_a_consultation_are_a_detour(db: Database, citizen: Citizen) -> None:
    event = await add_event(db)
    await at_name(citizen)
    reply = await citizen.say("イベント")
    assert isinstance(reply.messages[0], Carousel)
    assert reply.messages[2] == Text(TEXTS.get("flow.help_resume"))
    conversation = await citizen.conversation()
    assert conversation is not None and conversation.step == "name"
    signed = await citizen.tap(f"event:{event.id}:register")
    assert "受け付けました" in signed.messages[0].text  # type: ignore[union-attr]
    conversation = await citizen.conversation()
    assert conversation is not None and conversation.step == "name"


async def test_typing_something_else_leaves_the_list(db: Database, citizen: Citizen) -> None:
    await add_event(db)
    await citizen.say("イベント")
    assert await citizen.say("ヘルプ") == Reply([Text(TEXTS.get("help.text")), MENU])
    assert await citizen.conversation() is None


async def test_closed_cancelled_and_past_events_take_no_sign_up(db: Database, citizen: Citizen) -> None:
    past_deadline = await add_event(db, uid="deadline", registration_deadline=NOW - timedelta(hours=1))
    assert last_text(await citizen.tap(f"event:{past_deadline.id}:register")) == TEXTS.get("events.closed")
    cancelled = await add_event(db, uid="cancelled", status="cancelled")
    said = last_text(await citizen.tap(f"event:{cancelled.id}:register"))
    assert said == TEXTS.get("events.cancelled_event")
    assert last_text(await citizen.tap("event:999")) == TEXTS.get("events.not_found")


def test_the_calendar_link_fills_in_the_event_in_utc() -> None:
    event = Event(
        1, "u", "k", "サロン", "説明", "会場", START, START + timedelta(hours=2), None, None, "open", NOW, NOW
    )
    query = parse_qs(urlparse(calendar_url(event)).query)
    assert query["action"] == ["TEMPLATE"] and query["text"] == ["サロン"]
    assert query["dates"] == ["20261205T050000Z/20261205T070000Z"]
    assert query["location"] == ["会場"]


async def test_card_is_a_card(db: Database, citizen: Citizen) -> None:
    await add_event(db)
    carousel = (await citizen.say("イベント")).messages[0]
    assert isinstance(carousel, Carousel) and all(isinstance(c, Card) for c in carousel.cards)


async def test_a_deletion_on_request_gives_the_freed_seat_to_the_first_waiting(
    db: Database, citizen: Citizen
) -> None:
    event = await add_event(db, capacity=1)
    other = Citizen(db, line_id="U_TARO")
    await citizen.tap(f"event:{event.id}:register")
    await other.tap(f"event:{event.id}:register")
    await citizen.say("削除")
    done = await citizen.say("はい")
    assert done.forgotten
    taro = await other.user()
    [notify] = done.notify
    assert notify.user_id == taro.id
    registration = await db.read.registrations.of(event.id, taro.id)
    assert registration is not None and registration.status == "registered"
