"""Review 42 R1: a typed answer to the questionnaire is taken, asked again or told it closed; never
dropped to the fallback. On the default questions (満足 / やや満足 / やや不満 / 不満), at the desk with an
injected clock: LINE for PC shows no quick replies, and they vanish once the citizen types."""

from __future__ import annotations

from datetime import timedelta

from bot.config import DEFAULT_QUESTIONS
from flows.context import Reply
from flows.messages import Text
from storage import Database
from storage.events import Event
from storage.questionnaire import Question
from tests.flows.test_desk import TEXTS, Citizen
from tests.test_questionnaire import surveyed_salon

QUESTIONS = [Question(q.text, tuple(q.choices)) for q in DEFAULT_QUESTIONS]
FIRST, SECOND = (f"（{n}/2）{q.text}" for n, q in enumerate(QUESTIONS, 1))
CLOSED = Text(TEXTS.get("questionnaire.closed"))
FALLBACK = TEXTS.get("fallback.text").splitlines()[0]


def said(reply: Reply) -> str:
    return "\n".join(m.text for m in reply.messages if isinstance(m, Text))


async def counts(db: Database, event: Event) -> tuple[tuple[int, ...], ...]:
    survey = await db.read.questionnaire.survey(event.id)
    assert survey is not None
    return (await db.read.questionnaire.tally(survey)).counts


async def test_a_polite_answer_holding_two_labels_is_the_longest(db: Database) -> None:
    citizen = Citizen(db)
    event = await surveyed_salon(db, citizen, QUESTIONS)
    assert SECOND in said(await citizen.say("やや満足です"))
    assert await counts(db, event) == ((0, 1, 0, 0), (0, 0, 0))
    assert "ご回答ありがとうございました" in said(await citizen.say("内容によると思います"))


async def test_yaya_fuman_desu_too(db: Database) -> None:
    citizen = Citizen(db)
    event = await surveyed_salon(db, citizen, QUESTIONS)
    assert SECOND in said(await citizen.say("やや不満です"))
    assert await counts(db, event) == ((0, 0, 1, 0), (0, 0, 0))


async def test_an_answer_naming_two_choices_asks_the_question_again(db: Database) -> None:
    citizen = Citizen(db)
    event = await surveyed_salon(db, citizen, QUESTIONS)
    again = await citizen.say("満足と不満")
    [message] = again.messages
    assert isinstance(message, Text)
    assert message.text.startswith(TEXTS.get("invalid.ambiguous")) and FIRST in message.text
    assert [c.label for c in message.choices] == list(QUESTIONS[0].choices)
    assert FALLBACK not in message.text
    assert await counts(db, event) == ((0, 0, 0, 0), (0, 0, 0))
    assert SECOND in said(await citizen.say("１"))  # then its number answers it
    assert await counts(db, event) == ((1, 0, 0, 0), (0, 0, 0))


async def test_after_anketo_an_ambiguous_answer_asks_again_and_keeps_the_question_shown(db: Database) -> None:
    """アンケート shows the question (so it takes a typed answer even with a consultation open)."""
    citizen = Citizen(db)
    await citizen.open_case()
    event = await surveyed_salon(db, citizen, QUESTIONS)
    assert FIRST in said(await citizen.say("アンケート"))
    again = await citizen.say("やや")
    assert said(again).startswith(TEXTS.get("invalid.ambiguous")) and FIRST in said(again)
    assert (await citizen.conversation()) is not None
    assert SECOND in said(await citizen.say("やや満足です"))
    assert await counts(db, event) == ((0, 1, 0, 0), (0, 0, 0))


async def test_a_typed_answer_after_the_close_is_told_it_closed(db: Database) -> None:
    citizen = Citizen(db)
    event = await surveyed_salon(db, citizen, QUESTIONS)
    assert SECOND in said(await citizen.say("満足です"))
    survey = await db.read.questionnaire.survey(event.id)
    assert survey is not None
    citizen.now = survey.closes_at  # its time is up (the sweep has not closed it yet)
    assert (await citizen.say("ぜひ参加したいです")).messages == [CLOSED]
    async with db.transaction() as tx:
        assert await tx.questionnaire.close(event.id, citizen.now)
    citizen.wait(timedelta(days=2))
    assert (await citizen.say("2")).messages == [CLOSED]  # a number of the question left
    assert (await citizen.say("内容による")).messages == [CLOSED]
    assert FALLBACK in said(await citizen.say("駐車場はありますか"))  # not an answer: as usual
    assert await counts(db, event) == ((1, 0, 0, 0), (0, 0, 0))


async def test_after_the_close_one_who_answered_everything_gets_the_usual_answer(db: Database) -> None:
    citizen = Citizen(db)
    event = await surveyed_salon(db, citizen, QUESTIONS)
    await citizen.say("満足")
    assert "ご回答ありがとうございました" in said(await citizen.say("ぜひ参加したい"))
    survey = await db.read.questionnaire.survey(event.id)
    assert survey is not None
    citizen.now = survey.closes_at + timedelta(hours=1)
    assert FALLBACK in said(await citizen.say("満足"))
