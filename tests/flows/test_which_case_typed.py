"""The which-case question (two open cases, a message from the citizen) is answered by typing as every
other list is (flows/matching.py): 1番, １番です, the category, a part of it (review 44 D1). A typed
answer that fits several cases asks again and is not held; only text that names no case is held as a
message for staff. キャンセル typed politely cancels, the question says it can be typed (LINE for PC
shows no button), and the answer says the messages were not passed on (review 44 D2)."""

from __future__ import annotations

import pytest

from flows.desk import Reply
from flows.messages import Text
from storage import Database
from tests.flows.test_desk import MENU, TEXTS, Citizen, messages_of, text

FOLLOWUP = "来週の打ち合わせの件です"


@pytest.fixture
def citizen(db: Database) -> Citizen:
    return Citizen(db)


def said(reply: Reply) -> list[str]:
    return [m.text for m in reply.messages if isinstance(m, Text)]


@pytest.mark.parametrize(
    "typed", ["1番", "１番です", "1番でお願いします", "NPOの設立・運営", "NPO", "ＮＰＯ", "0001"]
)
async def test_a_typed_answer_names_the_case_as_in_every_list(citizen: Citizen, typed: str) -> None:
    first = await citizen.open_case(category="npo")
    second = await citizen.open_case(category="general")
    await citizen.say(FOLLOWUP)
    reply = await citizen.say(typed)
    assert said(reply) == [TEXTS.get("followup.added", number=first.number)]
    assert [m.body for m in await messages_of(citizen.db, first)] == [FOLLOWUP]
    assert await messages_of(citizen.db, second) == []
    assert await citizen.conversation() is None


@pytest.mark.parametrize("typed", ["2番です", "総合相談で", "{number}です"])
async def test_the_second_case_typed_by_number_category_or_case_number(citizen: Citizen, typed: str) -> None:
    first = await citizen.open_case(category="npo")
    second = await citizen.open_case(category="general")
    await citizen.say(FOLLOWUP)
    await citizen.say(typed.format(number=second.number))
    assert [m.body for m in await messages_of(citizen.db, second)] == [FOLLOWUP]
    assert await messages_of(citizen.db, first) == []


async def test_an_answer_that_fits_two_cases_asks_again_and_is_not_held(citizen: Citizen) -> None:
    """Two 総合相談 cases and 「総合相談」 typed: never guessed, and never filed as a message either."""
    first = await citizen.open_case(category="general")
    second = await citizen.open_case(category="general")
    question = (await citizen.say(FOLLOWUP)).messages
    again = await citizen.say("総合相談です")
    assert again.messages == [text("invalid.ambiguous"), *question]
    conversation = await citizen.conversation()
    assert conversation is not None and [h["text"] for h in conversation.data["held"]] == [FOLLOWUP]
    await citizen.say("2")
    assert [m.body for m in await messages_of(citizen.db, second)] == [FOLLOWUP]
    assert await messages_of(citizen.db, first) == []


@pytest.mark.parametrize("typed", ["ありがとうございます", "NPOの件で、もう一つ質問があります。", "3番"])
async def test_text_that_names_no_case_is_held_as_a_message(citizen: Citizen, typed: str) -> None:
    first = await citizen.open_case(category="npo")
    await citizen.open_case(category="general")
    question = (await citizen.say(FOLLOWUP)).messages
    assert (await citizen.say(typed)).messages == question
    await citizen.say("1")
    assert [m.body for m in await messages_of(citizen.db, first)] == [FOLLOWUP, typed]


async def test_a_command_is_not_read_as_a_part_of_a_case_label(citizen: Citizen) -> None:
    """相談 is a part of 総合相談 but a command (相談する): the held message is filed and the command
    runs, as before."""
    await citizen.open_case(category="npo")
    second = await citizen.open_case(category="general")
    await citizen.say(FOLLOWUP)
    await citizen.say("相談")
    assert [m.body for m in await messages_of(citizen.db, second)] == [FOLLOWUP]  # the newest case
    conversation = await citizen.conversation()
    assert conversation is not None and conversation.flow == "intake"


@pytest.mark.parametrize(
    "typed",
    ["キャンセル", "キャンセルします", "キャンセル。", "キャンセルでお願いします", "ｷｬﾝｾﾙです", "やめます！"],
)
async def test_a_typed_cancel_polite_or_not_sends_nothing_and_says_so(citizen: Citizen, typed: str) -> None:
    first = await citizen.open_case(category="npo")
    second = await citizen.open_case(category="general")
    await citizen.say(FOLLOWUP)
    assert await citizen.say(typed) == Reply([text("followup.cancelled"), MENU])
    assert await messages_of(citizen.db, first) == [] and await messages_of(citizen.db, second) == []
    assert await citizen.conversation() is None


async def test_the_question_says_how_to_cancel_by_typing(citizen: Citizen) -> None:
    """LINE for PC shows no キャンセル button: the text alone says it can be typed."""
    await citizen.open_case(category="npo")
    await citizen.open_case(category="general")
    [question] = (await citizen.say(FOLLOWUP)).messages
    assert isinstance(question, Text)
    assert question.text.endswith(TEXTS.get("followup.which_cancel"))
    assert f"「{TEXTS.get('flow.cancel')}」" in TEXTS.get("followup.which_cancel")
