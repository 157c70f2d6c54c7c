"""Consultation sessions with time slots: booking at the front desk (tapped and typed), the waitlist
and a freed slot, re-slotting refused over a booking, the file import's slot columns, and a slot's
reminder naming the slot's own time. Against the real storage; the import through the real CLI."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.config import Settings
from bot.sandbox.fake_line import FakeLine
from flows.messages import Carousel, Text
from flows.slots import typed_time
from storage import Database
from storage.events import Event, EventDraft
from storage.slots import SeatsWithoutSlots, Slot, SlotsBooked
from tests.conftest import NOW
from tests.flows.test_desk import TEXTS, Citizen
from tests.flows.test_desk import citizen as citizen
from tests.flows.test_events import last_text
from tests.harness import settings_for, write_config
from tests.test_case_export import madoguchi
from tests.test_reminders import MULTICAST, Clock, deliver, service

# 12月5日(土) 13:00 in Tokyo: slots 13:00, 13:40, 14:20 (40 minutes, no break).
START = datetime(2026, 12, 5, 4, 0, tzinfo=UTC)
TOKYO = ZoneInfo("Asia/Tokyo")


async def add_session(db: Database, count: int = 3, advisors: str = "", **more: object) -> Event:
    values: dict[str, object] = {
        "uid": "expert-2026-12",
        "kind": "expert-session",
        "title": "士業相談会 12月",
        "starts_at": START,
        "venue": "横浜市市民協働推進センター",
        "slot_count": count,
        "slot_minutes": 40,
        "slot_advisors": advisors,
        **more,
    }
    async with db.transaction() as tx:
        return await tx.events.upsert(EventDraft(**values), NOW)  # type: ignore[arg-type]


async def slots_of(db: Database, event: Event) -> list[Slot]:
    return await db.read.slots.for_event(event.id)


def question(reply_text: str) -> list[str]:
    return [line for line in reply_text.splitlines() if line[:1].isdigit()]


# -- booking at the desk ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "start"),
    [("2", "13:40"), ("13:40", "13:40"), ("１３：４０", "13:40"), ("13時40分です", "13:40"),
     ("1時40分", "13:40"), ("午後2時20分", "14:20"), ("14:20から", "14:20"), ("13時", "13:00"),
     ("13:40〜14:20", "13:40")],
)  # fmt: skip
async def test_a_typed_number_or_time_books_that_slot(
    db: Database, citizen: Citizen, typed: str, start: str
) -> None:
    event = await add_session(db)
    asked = await citizen.tap(f"event:{event.id}:register")
    [text] = asked.messages
    assert isinstance(text, Text) and text.text.startswith("ご希望の時間をお選びください。")
    assert [c.label for c in text.choices] == ["13:00〜13:40", "13:40〜14:20", "14:20〜15:00", "一覧に戻る"]
    assert question(text.text) == ["1. 13:00〜13:40", "2. 13:40〜14:20", "3. 14:20〜15:00", "4. 一覧に戻る"]
    booked = await citizen.say(typed)
    [said] = booked.messages
    assert isinstance(said, Text) and said.text.startswith("ご予約を受け付けました。")
    assert f"ご予約の時間：12月5日(土) {start}〜" in said.text
    assert [c.value for c in said.choices] == ["consult", "menu"]  # ご相談内容を事前に送る, メニュー
    held = [s for s in await slots_of(db, event) if not s.free]
    assert [s.starts_at.astimezone(TOKYO).strftime("%H:%M") for s in held] == [start]


def test_typed_times() -> None:
    assert typed_time("１４：００") == (14, 0)
    assert typed_time("14時") == (14, 0)
    assert typed_time("14時半でお願いします") == (14, 30)
    assert typed_time("午後2時") == (14, 0)
    assert typed_time("2番") is None and typed_time("25:00") is None


async def test_after_booking_the_consultation_form_is_offered_typed_too(
    db: Database, citizen: Citizen
) -> None:
    event = await add_session(db)
    await citizen.tap(f"event:{event.id}:register")
    await citizen.say("1")
    started = await citizen.say("事前に送る")
    assert any(
        isinstance(m, Text) and "同意" in m.text for m in started.messages
    )  # the intake's privacy step
    conversation = await citizen.conversation()
    assert conversation is not None and conversation.flow == "intake"


async def test_a_consultation_sent_before_the_booking_can_be_shown_to_the_advisor(
    db: Database, citizen: Citizen
) -> None:
    """Not written twice: an open consultation is offered to the advisor (typed 1 here, as on LINE for
    PC), linked to the booking, and its card redrawn; someone else's case number in a forged postback
    links nothing."""
    case = await citizen.open_case()
    event = await add_session(db)
    await citizen.tap(f"event:{event.id}:register")
    booked = await citizen.say("1")
    assert f"受付番号 {case.number}" in last_text(booked)
    labels = [c.label for m in booked.messages if isinstance(m, Text) for c in m.choices]
    assert f"ご相談{case.number}を見てもらう" in labels and all(len(label) <= 20 for label in labels)
    linked = await citizen.say("1")
    assert f"受付番号 {case.number} のご相談を、相談員が当日までに確認します。" in last_text(linked)
    assert [(e.kind, e.case_id) for e in linked.staff] == [("case_linked", case.id)]
    slot = await db.read.slots.for_case(case.id)
    assert slot is not None and slot.event_id == event.id

    other = Citizen(db, line_id="U_TARO")
    theirs = await other.open_case()
    await other.tap(f"event:{event.id}:register")
    await other.say("1")  # books the next free slot
    forged = await citizen.tap(f"event:{event.id}:link:{theirs.id}")
    assert "お付けできませんでした" in last_text(forged) and forged.staff == []
    assert await db.read.slots.for_case(theirs.id) is None


async def test_two_advisors_at_one_time_need_the_advisor_or_the_number(
    db: Database, citizen: Citizen
) -> None:
    event = await add_session(db, count=2, advisors="税理士、社会保険労務士")
    asked = await citizen.tap(f"event:{event.id}:register")
    [text] = asked.messages
    assert isinstance(text, Text)
    assert question(text.text)[:2] == ["1. 13:00〜13:40 税理士", "2. 13:00〜13:40 社会保険労務士"]
    again = await citizen.say("13時")
    assert last_text(again).startswith(TEXTS.get("slots.ambiguous"))
    booked = await citizen.say("13時 社会保険労務士")
    assert "ご予約の時間：12月5日(土) 13:00〜13:40 社会保険労務士" in last_text(booked)


async def test_one_slot_per_citizen_and_the_card_counts_free_slots(db: Database, citizen: Citizen) -> None:
    event = await add_session(db)
    slots = await slots_of(db, event)
    await citizen.tap(f"event:{event.id}:slot:{slots[0].id}")
    again = await citizen.tap(f"event:{event.id}:slot:{slots[1].id}")
    assert last_text(again).startswith("この相談会は、すでに次の枠をご予約いただいています。")
    assert [s.free for s in await slots_of(db, event)] == [False, True, True]
    carousel = (await Citizen(db, line_id="U_TARO").say("イベント")).messages[0]
    assert isinstance(carousel, Carousel)
    assert "相談枠：残り2枠です（全3枠・1枠40分）。" in carousel.cards[0].lines
    mine = (await citizen.say("申込状況")).messages[0]
    assert isinstance(mine, Carousel)
    assert "ご予約の枠：12月5日(土) 13:00〜13:40" in mine.cards[0].lines
    details = await Citizen(db, line_id="U_TARO").tap(f"event:{event.id}")
    assert "・13:00〜13:40：予約済み\n・13:40〜14:20：空き" in last_text(details)


async def test_a_full_session_waitlists_and_a_freed_slot_goes_to_the_first_waiting(
    db: Database, citizen: Citizen
) -> None:
    event = await add_session(db, count=1)
    taro = Citizen(db, line_id="U_TARO")
    await citizen.tap(f"event:{event.id}:register")
    await citizen.say("1")
    waiting = await taro.tap(f"event:{event.id}:register")
    assert last_text(waiting).startswith("満席のため、キャンセル待ちで受け付けました。現在1番目です。")
    await citizen.tap(f"event:{event.id}:cancel")
    done = await citizen.say("はい")
    assert last_text(done).startswith("お申し込みをキャンセルしました。")
    assert "ご予約の時間：12月5日(土) 13:00〜13:40" in last_text(done)
    [notify] = done.notify
    assert notify.user_id == (await taro.user()).id
    [pushed] = notify.messages
    assert isinstance(pushed, Text) and "ご予約の時間：12月5日(土) 13:00〜13:40" in pushed.text
    [slot] = await slots_of(db, event)
    assert slot.user_id == (await taro.user()).id


async def test_a_slot_taken_a_moment_before_shows_the_free_ones(db: Database, citizen: Citizen) -> None:
    event = await add_session(db, count=2)
    first, second = await slots_of(db, event)
    await citizen.tap(f"event:{event.id}:register")  # the question shows both slots ...
    await Citizen(db, line_id="U_TARO").tap(f"event:{event.id}:slot:{first.id}")  # ... one goes
    late = await citizen.say("1")
    text = last_text(late)
    assert text.startswith(TEXTS.get("slots.taken"))
    assert question(text) == ["1. 13:40〜14:20", "2. 一覧に戻る"]
    await Citizen(db, line_id="U_JIRO").tap(f"event:{event.id}:slot:{second.id}")
    none_left = await citizen.tap(f"event:{event.id}:slot:{second.id}")
    assert TEXTS.get("slots.none_free") in last_text(none_left)
    assert "1. キャンセル待ちに申し込む" in last_text(none_left)  # offered, not done
    assert await db.read.registrations.of(event.id, (await citizen.user()).id) is None


# -- staff changing the slots ------------------------------------------------------------------


async def test_re_slotting_keeps_bookings_and_refuses_to_drop_or_move_a_booked_slot(
    db: Database, citizen: Citizen
) -> None:
    event = await add_session(db)
    before = await slots_of(db, event)
    await citizen.tap(f"event:{event.id}:slot:{before[2].id}")
    before = await slots_of(db, event)
    base = event.draft()
    for change in ({"slot_count": 2}, {"slot_minutes": 30}, {"starts_at": START + timedelta(days=1)}):
        with pytest.raises(SlotsBooked) as refused:
            async with db.transaction() as tx:
                await tx.events.save(EventDraft(**{**base.__dict__, **change}), NOW)
        assert [s.id for s in refused.value.booked] == [before[2].id]
        assert await slots_of(db, event) == before and await db.read.events.get(event.id) == event
    async with db.transaction() as tx:  # more slots, a new title: the booked one stays, booked
        await tx.events.save(EventDraft(**{**base.__dict__, "slot_count": 4, "title": "新しい題"}), NOW)
    after = await slots_of(db, event)
    assert [s.id for s in after[:3]] == [s.id for s in before] and len(after) == 4
    assert after[2].user_id == (await citizen.user()).id


async def test_slots_for_an_event_with_sign_ups_that_hold_none_are_refused(
    db: Database, citizen: Citizen
) -> None:
    """Sign-ups made before the event had slots would hold no time while every slot was offered again:
    the change is refused whole (it oversold the event: 4 seats taken of 3)."""
    event = await add_session(db, count=0, slot_minutes=0, capacity=3)  # a plain event with 3 seats
    await citizen.tap(f"event:{event.id}:register")
    with pytest.raises(SeatsWithoutSlots) as refused:
        async with db.transaction() as tx:
            await tx.events.save(replace(event.draft(), slot_count=3, slot_minutes=40, capacity=3), NOW)
    assert refused.value.count == 1
    assert await db.read.slots.for_event(event.id) == [] and await db.read.events.get(event.id) == event


async def test_a_slot_is_not_booked_past_the_capacity(db: Database, citizen: Citizen) -> None:
    """The second guard: even with a free slot, no booking beyond the seats (a sign-up without a slot
    left from before counts as a seat)."""
    event = await add_session(db, count=2, capacity=2)
    first, second = await db.read.slots.for_event(event.id)
    other = Citizen(db, line_id="U_TARO")
    async with db.transaction() as tx:  # a seat held without a slot, as an older version could leave
        user = await tx.users.ensure("U_JIRO", NOW)
        await tx.registrations.put(event.id, user.id, "registered", 1, NOW)
    await citizen.tap(f"event:{event.id}:slot:{first.id}")
    await other.tap(f"event:{event.id}:slot:{second.id}")
    assert await db.read.registrations.seats_taken(event.id) == 2


# -- the file import ------------------------------------------------------------------------------

HEADER = "uid,kind,title,starts_at,ends_at,capacity,slots,slot_minutes,slot_break,slot_advisors"
SESSION = "expert-2027-01,士業相談会,士業相談会1月,2027-01-16 13:00,,,3,40,10,税理士、社会保険労務士"


def write_csv(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "events.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


async def test_import_with_slot_columns(tmp_path: Path, line: FakeLine) -> None:
    config = write_config(tmp_path, line.base_url)
    path = write_csv(tmp_path, SESSION)
    status, out, err = await madoguchi("events", "import", str(path), "--config", str(config))
    assert status == 0, err
    db = await Database.open(tmp_path / "madoguchi.sqlite3")
    try:
        [event] = await db.read.events.all_events()
        slots = await db.read.slots.for_event(event.id)
    finally:
        await db.close()
    assert (event.kind, event.capacity, event.slot_count, event.slot_advisors) == (
        "expert-session",
        6,
        3,
        "税理士、社会保険労務士",
    )
    local = [(s.starts_at.astimezone(TOKYO).strftime("%H:%M"), s.advisor) for s in slots]
    assert local == [
        ("13:00", "税理士"), ("13:00", "社会保険労務士"), ("13:50", "税理士"),
        ("13:50", "社会保険労務士"), ("14:40", "税理士"), ("14:40", "社会保険労務士"),
    ]  # fmt: skip
    assert event.ends_at is not None and event.ends_at.astimezone(TOKYO).strftime("%H:%M") == "15:20"
    status, out, _ = await madoguchi("events", "import", str(path), "--config", str(config))
    assert status == 0 and "1 unchanged" in out.decode()


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (SESSION.replace(",3,40,", ",13,40,"), "events.csv:3: slots: expected a whole number from 1 to 12"),
        (SESSION.replace(",3,40,", ",3," + "4" * 5000 + ","), "events.csv:3: slot_minutes: expected a whole number from 5 to"),
        (SESSION.replace(",3,40,", ",3,abc,"), "events.csv:3: slot_minutes: expected a whole number"),
        (SESSION.replace(",3,40,", ",3,,"), "events.csv:3: slot_minutes: required with slots"),
        (SESSION.replace(",3,40,", ",,40,"), "events.csv:3: slots: required with slot_minutes"),
        (SESSION.replace(",3,40,", ",7,40,"), "events.csv:3: slots: at most 12 slots in all"),
        (SESSION.replace(",,3,40,", ",4,3,40,"), "events.csv:3: capacity: a session takes one booking per slot"),
        (SESSION.replace("13:00,,,", "13:00,2027-01-16 14:00,,"), "events.csv:3: slots: the slots end at 15:20"),
    ],
)  # fmt: skip
async def test_a_bad_slot_value_imports_nothing_and_names_line_and_field(
    tmp_path: Path, line: FakeLine, row: str, message: str
) -> None:
    config = write_config(tmp_path, line.base_url)
    good = SESSION.replace("expert-2027-01", "other")
    path = write_csv(tmp_path, good, row)
    status, out, err = await madoguchi("events", "import", str(path), "--config", str(config))
    assert status == 2 and out == b"" and "Traceback" not in err
    assert message in err and len(err.strip().splitlines()) == 1, err
    db = await Database.open(tmp_path / "madoguchi.sqlite3")
    try:
        assert await db.read.events.all_events() == []
    finally:
        await db.close()


async def test_re_importing_fewer_slots_over_a_booking_is_refused(tmp_path: Path, line: FakeLine) -> None:
    config = write_config(tmp_path, line.base_url)
    path = write_csv(tmp_path, SESSION)
    assert (await madoguchi("events", "import", str(path), "--config", str(config)))[0] == 0
    db = await Database.open(tmp_path / "madoguchi.sqlite3")
    try:
        [event] = await db.read.events.all_events()
        last = (await db.read.slots.for_event(event.id))[-1]
        async with db.transaction() as tx:
            user = await tx.users.ensure("U_HANAKO", NOW)
            assert (await tx.registrations.book(event.id, last.id, user.id, NOW))[0] == "booked"
    finally:
        await db.close()
    path = write_csv(tmp_path, SESSION.replace(",3,40,", ",2,40,"))
    status, out, err = await madoguchi("events", "import", str(path), "--config", str(config))
    assert status == 2 and out == b""
    assert (
        "events.csv:2: slots: booked slots would be dropped or moved: 2027-01-16 14:40-15:20 社会保険労務士"
        in err
    )
    db = await Database.open(tmp_path / "madoguchi.sqlite3")
    try:
        assert len(await db.read.slots.for_event(event.id)) == 6
        assert (await db.read.events.all_events())[0].slot_count == 3
    finally:
        await db.close()


async def test_re_importing_with_slots_over_sign_ups_without_one_is_refused(
    tmp_path: Path, line: FakeLine
) -> None:
    config = write_config(tmp_path, line.base_url)
    plain = "expert-2027-01,士業相談会,士業相談会1月,2027-01-16 13:00,,6,,,,"
    assert (await madoguchi("events", "import", str(write_csv(tmp_path, plain)), "--config", str(config)))[
        0
    ] == 0
    db = await Database.open(tmp_path / "madoguchi.sqlite3")
    try:
        [event] = await db.read.events.all_events()
        async with db.transaction() as tx:
            user = await tx.users.ensure("U_HANAKO", NOW)
            assert (await tx.registrations.register(event.id, user.id, NOW))[0] == "registered"
    finally:
        await db.close()
    status, out, err = await madoguchi(
        "events", "import", str(write_csv(tmp_path, SESSION)), "--config", str(config)
    )
    assert status == 2 and out == b""
    assert "events.csv:2: slots: 1 sign-up(s) made before the event had slots hold no slot" in err
    db = await Database.open(tmp_path / "madoguchi.sqlite3")
    try:
        assert await db.read.slots.for_event(event.id) == []
    finally:
        await db.close()


# -- reminders -----------------------------------------------------------------------------------


async def test_a_slot_reminder_names_the_slot_time(db: Database, tmp_path: Path, line: FakeLine) -> None:
    settings: Settings = settings_for(tmp_path, line.base_url)
    event = await add_session(db)
    first, _, third = await slots_of(db, event)
    async with db.transaction() as tx:
        for line_id, slot in (("U_EARLY", first), ("U_LATE", third)):
            user = await tx.users.ensure(line_id, NOW)
            assert (await tx.registrations.book(event.id, slot.id, user.id, NOW))[0] == "booked"
    clock = Clock(NOW)
    reminders = service(db, settings, clock)
    await reminders.run()
    clock.now = START - timedelta(hours=2)
    assert await reminders.run() == 2  # one multicast per booked slot
    await deliver(db, settings, clock)
    assert len(line.find_requests(path=MULTICAST)) == 2
    [early] = line.sent_texts("U_EARLY")
    [late] = line.sent_texts("U_LATE")
    assert "日時：12月5日(土) 13:00" in early and "14:20" not in early
    assert "日時：12月5日(土) 14:20" in late


@pytest.mark.parametrize(
    "typed", ["event:{event}:slot:99999999999999999999", "event:99999999999999999999:slot:1"]
)
async def test_an_id_too_large_for_sqlite_names_nothing(db: Database, citizen: Citizen, typed: str) -> None:
    """Typed or forged, a postback value's ids are hostile: one SQLite cannot hold is no slot or event
    (it raised OverflowError, failed the event and left the citizen unanswered)."""
    event = await add_session(db)
    reply = await citizen.say(typed.format(event=event.id))
    assert reply.messages and await db.read.registrations.for_event(event.id) == []
