"""While an event, the event list, a session's times, 配信設定 or a survey question is shown, a long
typed text is a message (for staff, or a question), never an answer by a part of it
(matching.MAX_TYPED): 「申し込む前に確認したいのですが…」 signs nobody up, a question naming an
event reaches the open case. Short answers (a number, half or full width, 申し込む, a title) still
answer. At the front desk against the real storage."""

from __future__ import annotations

from datetime import timedelta

import pytest

from flows import matching
from flows.messages import Text
from flows.validators import fold
from storage import Database
from storage.questionnaire import Question
from tests.conftest import NOW
from tests.flows.test_announcements import Subscriber
from tests.flows.test_announcements import add_event as add_kind_event
from tests.flows.test_desk import Citizen, messages_of
from tests.flows.test_desk import citizen as citizen
from tests.flows.test_events import add_event, last_text
from tests.flows.test_slots import add_session, slots_of
from tests.test_questionnaire import surveyed_salon

ASK_BEFORE_SIGNING_UP = "申し込む前に確認したいのですが、会場に駐車場はありますか？車椅子で伺う予定です。"
ASK_NAMING_THE_EVENT = (
    "ミズベサロン salonの会場には駐車場がありますか？車椅子で伺う予定なので教えてください。"
)
# Longer than MAX_TYPED folded, as a title may be: typed alone, it still names its event.
LONG_TITLE = "ミズベサロン 市民活動と地域のつながりを考える冬の交流会 〜はじめての方も歓迎〜"


def test_the_texts_of_these_tests_are_long_and_the_long_title_too() -> None:
    for text in (ASK_BEFORE_SIGNING_UP, ASK_NAMING_THE_EVENT, LONG_TITLE):
        assert len(fold(text)) > matching.MAX_TYPED and matching.is_message(text)


async def test_a_question_at_an_event_shown_goes_to_the_open_case_and_signs_nobody_up(
    db: Database, citizen: Citizen
) -> None:
    case = await citizen.open_case()
    await add_event(db, capacity=5)
    await citizen.say("イベント")
    details = last_text(await citizen.say("1"))
    assert "1. 申し込む\n2. 一覧に戻る" in details
    await citizen.say(ASK_BEFORE_SIGNING_UP)
    assert await db.read.registrations.for_user((await citizen.user()).id) == []
    assert [m.body for m in await messages_of(db, case)] == [ASK_BEFORE_SIGNING_UP]
    assert await citizen.conversation() is None


async def test_a_question_naming_an_event_of_the_list_reaches_the_open_case(
    db: Database, citizen: Citizen
) -> None:
    case = await citizen.open_case()
    await add_event(db, capacity=5)
    await citizen.say("イベント")
    await citizen.say(ASK_NAMING_THE_EVENT)
    assert [m.body for m in await messages_of(db, case)] == [ASK_NAMING_THE_EVENT]
    assert await citizen.conversation() is None


async def test_without_a_case_a_long_question_gets_the_usual_answer_not_the_event(
    db: Database, citizen: Citizen
) -> None:
    await add_event(db, capacity=5)
    await citizen.say("イベント")
    await citizen.say("1")
    shown = await citizen.say(ASK_BEFORE_SIGNING_UP)
    assert await db.read.registrations.for_user((await citizen.user()).id) == []
    assert await citizen.conversation() is None
    # What the same text gets with nothing shown.
    assert (await citizen.say(ASK_BEFORE_SIGNING_UP)).messages == shown.messages


@pytest.mark.parametrize("typed", ["1", "１", "申し込む", "申し込みます", "申し込む。", "申込"])
async def test_a_short_typed_answer_at_an_event_still_signs_up(
    db: Database, citizen: Citizen, typed: str
) -> None:
    await citizen.open_case()
    event = await add_event(db, capacity=5)
    await citizen.say("イベント")
    await citizen.say("1")
    done = await citizen.say(typed)
    assert last_text(done).startswith("お申し込みを受け付けました。")
    [registration] = await db.read.registrations.for_user((await citizen.user()).id)
    assert (registration.event_id, registration.status) == (event.id, "registered")


@pytest.mark.parametrize("typed", ["2", "２", "2番", LONG_TITLE, "はじめての方も歓迎", "冬の交流会"])
async def test_a_number_or_a_title_typed_at_the_list_still_shows_the_event(
    db: Database, citizen: Citizen, typed: str
) -> None:
    case = await citizen.open_case()
    await add_event(db, capacity=5)
    await add_event(db, uid="long", capacity=5, title=LONG_TITLE, starts_at=NOW + timedelta(days=40))
    await citizen.say("イベント")
    details = last_text(await citizen.say(typed))
    assert LONG_TITLE in details and "1. 申し込む" in details
    assert await messages_of(db, case) == []


async def test_a_time_in_a_long_question_books_no_slot(db: Database, citizen: Citizen) -> None:
    case = await citizen.open_case()
    event = await add_session(db)
    asked = last_text(await citizen.tap(f"event:{event.id}:register"))
    assert asked.startswith("ご希望の時間をお選びください。")
    question = "13時40分の回に伺いたいのですが、その前に書類を何枚用意すればよいか教えてください。"
    await citizen.say(question)
    assert all(s.free for s in await slots_of(db, event))
    assert [m.body for m in await messages_of(db, case)] == [question]
    # A time typed as an answer still books it.
    await citizen.tap(f"event:{event.id}:register")
    booked = last_text(await citizen.say("13時40分です"))
    assert booked.startswith("ご予約を受け付けました。")


async def test_a_kind_named_in_a_long_message_at_the_settings_changes_nothing(
    db: Database,
) -> None:
    subscriber = Subscriber(db)
    await subscriber.say("配信設定")
    said = await subscriber.say(
        "ミズベサロンのお知らせは月に何回くらい届きますか？家族の分も登録したいと思っています。"
    )
    assert await subscriber.kinds() == set()
    assert await subscriber.conversation() is None
    assert not any(
        isinstance(m, Text) and m.text.startswith("ミズベサロンのお知らせを") for m in said.messages
    )
    # The name alone still toggles the kind.
    await subscriber.say("配信設定")
    await subscriber.say("ミズベサロン")
    assert await subscriber.kinds() == {"salon"}


async def test_a_long_message_after_a_sign_up_does_not_answer_the_offer(db: Database) -> None:
    subscriber = Subscriber(db)
    event = await add_kind_event(db, "a")
    await subscriber.tap(f"event:{event.id}:register")  # asks: receive news of this kind?
    await subscriber.say("はい、受け取るかどうかは家族と相談してから決めたいので、少し待ってもらえますか。")
    assert await subscriber.kinds() == set()
    assert await subscriber.conversation() is None


async def test_a_long_message_at_a_survey_question_shown_goes_to_the_case(db: Database) -> None:
    citizen = Citizen(db)
    case = await citizen.open_case()
    event = await surveyed_salon(db, citizen, [Question("満足度は？", ("満足", "やや満足", "不満"))])
    await citizen.say("アンケート")
    message = "満足かと聞かれると難しいのですが、会場が寒かったので次回は暖房をお願いできますか。"
    await citizen.say(message)
    survey = await db.read.questionnaire.survey(event.id)
    assert survey is not None and (await db.read.questionnaire.tally(survey)).answered == 0
    assert [m.body for m in await messages_of(db, case)] == [message]
    # A short answer still answers the question shown.
    await citizen.say("アンケート")
    await citizen.say("やや満足")
    assert (await db.read.questionnaire.tally(survey)).counts == ((0, 1, 0),)
