"""The questionnaire after an event: what citizens are asked and how their answers are taken.

Those who had a seat get the first question (bot/event_digest.py sends it, one multicast for all);
each answer is thanked with the next question, until the last. A question's choices are quick replies
whose postback names everything needed (`survey:<event>:<question>:<choice>`, the `survey` command),
so a tap needs no conversation; for those who type (LINE for PC shows no quick replies, and they
vanish once the citizen types) the question waiting for their answer is kept in their row of those
asked (`survey_recipients.next_question`), the smallest state there is: a typed number or choice
answers it when no conversation is under way. A citizen's last answer to a question counts until it
closes; a tap twice stores one answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo

from flows import matching, paging
from flows import state as state_io
from flows.commands import COMMANDS, Call, Command
from flows.context import DeskContext, Reply
from flows.dates import moment_text
from flows.messages import Choice, Inbound, Outgoing, Text
from flows.texts import Texts
from storage.questionnaire import Answered, Survey, Tally
from storage.repositories import Repositories
from storage.users import User

NAME = "survey"
WORDS = frozenset({"アンケート", "あんけーと"})


def value(event_id: int, question: int, choice: int) -> str:
    return f"{NAME}:{event_id}:{question}:{choice}"


def parse(argument: str) -> tuple[int, int, int] | None:
    """(event, question, choice) of a postback's argument (`12:1:3`), or None when it names none."""
    parts = argument.split(":")
    if len(parts) != 3 or not all(p.isascii() and p.isdigit() and len(p) <= 9 for p in parts):
        return None
    event_id, question, choice = (int(p) for p in parts)
    return event_id, question, choice


def options(survey: Survey, question: int) -> tuple[Choice, ...]:
    labels = survey.questions[question - 1].choices
    return tuple(Choice(label, value(survey.event_id, question, n)) for n, label in enumerate(labels, 1))


def question_message(texts: Texts, survey: Survey, question: int, lead: str = "") -> Text:
    """One question, its choices numbered (for typing) and as quick replies (for tapping)."""
    choices = options(survey, question)
    asked = texts.get(
        "questionnaire.question",
        number=question,
        count=len(survey.questions),
        text=survey.questions[question - 1].text,
    )
    return Text("\n".join(p for p in (lead, asked, paging.listing(choices, texts)) if p), choices=choices)


def first_message(texts: Texts, survey: Survey, title: str, tz: tzinfo) -> Text:
    """What goes to everyone asked: the event, until when it is open, the first question. The same
    text for all (one multicast), so nothing about the person."""
    closes = moment_text(texts, survey.closes_at, tz)
    lead = texts.get("questionnaire.intro", title=title, count=len(survey.questions), closes=closes)
    return question_message(texts, survey, 1, lead)


def _after(texts: Texts, survey: Survey, answered: Answered) -> Reply:
    if answered.next_question is None:
        return Reply([Text(texts.get("questionnaire.done"))])
    lead = texts.get("questionnaire.thanks")
    return Reply([question_message(texts, survey, answered.next_question, lead)])


async def _tapped(call: Call) -> Reply | list[Outgoing]:
    """A choice tapped (`survey:12:1:3`), or アンケート typed: the question waiting, if any."""
    texts, tx, ctx, user = call.ctx.texts, call.tx, call.ctx, call.user
    parsed = parse(call.argument)
    if parsed is None:
        return await _waiting(call)
    event_id, question, choice = parsed
    survey = await tx.questionnaire.survey(event_id)
    if survey is None:
        return [Text(texts.get("questionnaire.not_asked"))]
    # Before was_asked: some time after it closed, who was asked is no longer kept (retention).
    if not survey.open_at(ctx.now):
        return [Text(texts.get("questionnaire.closed"))]
    if not await tx.questionnaire.was_asked(event_id, user.id):
        return [Text(texts.get("questionnaire.not_asked"))]
    if not (
        1 <= question <= len(survey.questions) and 1 <= choice <= len(survey.questions[question - 1].choices)
    ):
        return [Text(texts.get("questionnaire.not_asked"))]  # not a choice it offered: forged or stale
    answered = await tx.questionnaire.answer(survey, user.id, question, choice, ctx.now)
    if not answered.accepted:
        return [Text(texts.get("questionnaire.closed"))]
    return _after(texts, survey, answered)


async def _waiting(call: Call) -> Reply | list[Outgoing]:
    """The question waiting for the citizen's answer, asked again (アンケート typed)."""
    pending = await call.tx.questionnaire.pending(call.user.id, call.ctx.now)
    if pending is None:
        return [Text(call.ctx.texts.get("questionnaire.none"))]
    survey, question = pending
    conversation = call.conversation
    if not call.in_flow and (conversation is None or conversation.flow == NAME):
        await _keep_shown(call, survey.event_id, question)  # never over a consultation under way
    return Reply([question_message(call.ctx.texts, survey, question)])


@dataclass(frozen=True)
class QuestionShown:
    """アンケート typed: the question asked again, so the next typed answer goes to it, even while a
    consultation is open (whose typed messages otherwise go to staff)."""

    event_id: int
    question: int


async def typed_answer(
    inbound: Inbound, user: User, tx: Repositories, ctx: DeskContext, case_open: bool
) -> Reply | None:
    """A typed number or choice that answers the question waiting for this citizen (one that fits
    several choices asks it again); None when it is not one (the desk then answers the message as
    usual). An answer to a question left unanswered when its questionnaire closed is told so. With a
    consultation open (`case_open`), typed text is for staff ("2" may answer their question): only a
    question asked again by アンケート takes it."""
    # A long text is a message (matching.MAX_TYPED): no question is looked for (one query less).
    if inbound.kind != "text" or case_open or matching.is_message(inbound.text):
        return None
    pending = await tx.questionnaire.pending(user.id, ctx.now)
    if pending is None:
        return await _too_late(inbound, user, tx, ctx)
    answered = await _typed(inbound, user, tx, ctx, pending)
    if isinstance(answered, Text):
        return Reply([answered])
    return None if answered is None else _after(ctx.texts, pending[0], answered)


async def _too_late(inbound: Inbound, user: User, tx: Repositories, ctx: DeskContext) -> Reply | None:
    """A typed answer to the question the citizen had left when their questionnaire closed: it is
    closed (rather than the fallback, which would read as if the answer was not understood)."""
    left = await tx.questionnaire.unanswered_when_closed(user.id, ctx.now)
    if left is None:
        return None
    survey, question = left
    found = matching.match(inbound.text, options(survey, question))
    if found.choice is None and not found.ambiguous:
        return None
    return Reply([Text(ctx.texts.get("questionnaire.closed"))])


async def in_conversation(call: Call) -> Reply | None:
    """A typed answer to the question アンケート showed; None when it is none (the desk moves on)."""
    assert call.conversation is not None
    shown = state_io.read(QuestionShown, call.conversation)
    pending = await call.tx.questionnaire.pending(call.user.id, call.ctx.now)
    if call.inbound.kind != "text" or pending is None:
        return None
    survey, question = pending
    if (survey.event_id, question) != (shown.event_id, shown.question):
        return None
    answered = await _typed(call.inbound, call.user, call.tx, call.ctx, pending)
    if answered is None:
        return None
    if isinstance(answered, Text):
        return Reply([answered])  # the same question shown again: the conversation stays
    if answered.next_question is None:
        await call.tx.conversations.delete(call.user.id)
    else:
        await _keep_shown(call, survey.event_id, answered.next_question)
    return _after(call.ctx.texts, survey, answered)


async def _keep_shown(call: Call, event_id: int, question: int) -> None:
    await state_io.save(
        call.tx, call.user.id, NAME, "question", QuestionShown(event_id, question), call.ctx.now
    )


async def _typed(
    inbound: Inbound, user: User, tx: Repositories, ctx: DeskContext, pending: tuple[Survey, int]
) -> Answered | Text | None:
    """The answer a typed text gives to the question waiting; the question asked again when the text
    fits several of its choices (as every question does: never guessed, never dropped); None when it
    names none."""
    survey, question = pending
    found = matching.match(inbound.text, options(survey, question))
    if found.ambiguous:
        return question_message(ctx.texts, survey, question, ctx.texts.get("invalid.ambiguous"))
    if found.choice is None:
        return None
    choice = int(found.choice.value.rsplit(":", 1)[1])
    answered = await tx.questionnaire.answer(survey, user.id, question, choice, ctx.now)
    return answered if answered.accepted else None


@dataclass(frozen=True)
class QuestionSummary:
    number: int
    text: str
    answered: int
    # (choice label, count, percent of those who answered this question)
    choices: tuple[tuple[str, int, float], ...]


def summarise(survey: Survey, tally: Tally) -> tuple[QuestionSummary, ...]:
    """Counts and percentages per choice of each question."""
    summary: list[QuestionSummary] = []
    for number, (question, counts) in enumerate(zip(survey.questions, tally.counts, strict=True), 1):
        answered = sum(counts)
        rows = tuple(
            (label, count, round(100 * count / answered, 1) if answered else 0.0)
            for label, count in zip(question.choices, counts, strict=True)
        )
        summary.append(QuestionSummary(number, question.text, answered, rows))
    return tuple(summary)


COMMANDS.add(Command(NAME, WORDS, _tapped, takes_argument=True))
