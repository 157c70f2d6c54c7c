"""The questionnaire's sending and closing by the reminder sweep, with an injected clock: once across
sweeps and restarts, only where it applies, and a deletion on request takes the citizen's answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import Settings
from bot.reminders import ReminderService
from bot.sandbox.fake_line import FakeLine
from flows.messages import Text
from flows.privacy import forget_citizen
from flows.texts import Texts
from storage import Database
from storage.events import Event, EventDraft
from storage.outbox import OutboxMessage
from storage.outbox_rows import ChannelPost, LineMulticast
from storage.questionnaire import Question
from tests.conftest import NOW
from tests.flows.test_desk import TEXTS, Citizen, messages_of
from tests.test_event_digest import with_events_channel

CHANNEL = "C_EVENTS"
ENDS = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
SENT = ENDS + timedelta(hours=2)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def configured(tmp_path: Path, line: FakeLine, enabled: bool = True, channel: str = CHANNEL) -> Settings:
    extra = (
        f"[events.questionnaire]\nenabled = {str(enabled).lower()}\nsend_after = '2h'\nclose_after = '3d'\n"
    )
    return with_events_channel(tmp_path, line.base_url, channel, extra)


@pytest.fixture
def settings(tmp_path: Path, line: FakeLine) -> Settings:
    return configured(tmp_path, line)


async def held(
    db: Database, uid: str, *, kind: str = "salon", public: bool = True, ends: datetime = ENDS
) -> int:
    draft = EventDraft(
        uid=uid,
        kind=kind,
        title=f"講座 {uid}",
        starts_at=ends - timedelta(hours=2),
        ends_at=ends,
        public=public,
    )
    async with db.transaction() as tx:
        event = await tx.events.upsert(draft, NOW)
        for n in range(3):
            user = await tx.users.mark_followed(f"U{n:032x}", NOW)
            await tx.registrations.put(event.id, user.id, "registered", 1, NOW)
    return event.id


def sweep(db: Database, settings: Settings, clock: Clock) -> ReminderService:
    return ReminderService(db, settings, Texts.load(), clock)


async def survey_rows(db: Database, event_id: int) -> list[OutboxMessage]:
    return await db.read.outbox.in_order(f"line:multicast:survey:{event_id}:0")


async def test_sent_once_across_sweeps_and_a_restart_and_only_where_it_applies(
    db: Database, settings: Settings
) -> None:
    salon = await held(db, "salon")
    internal = await held(db, "internal", public=False)
    meeting = await held(db, "meeting", kind="network-meeting")
    old = await held(db, "old", ends=ENDS - timedelta(days=3, minutes=1))  # would be closed by now
    clock = Clock(SENT - timedelta(minutes=1))
    await sweep(db, settings, clock).run()
    assert await survey_rows(db, salon) == []  # not yet: 2 hours after the end
    clock.now = SENT
    first = sweep(db, settings, clock)
    await first.run()
    await first.run()
    await sweep(db, settings, clock).run()  # a restart
    [row] = await survey_rows(db, salon)
    assert isinstance(row.row, LineMulticast) and row.row.to == [f"U{n:032x}" for n in range(3)]
    assert row.row.purpose == "survey"
    for other in (internal, meeting, old):
        assert await survey_rows(db, other) == []
        assert await db.read.questionnaire.survey(other) is None


async def test_disabled_sends_nothing(db: Database, tmp_path: Path, line: FakeLine) -> None:
    event_id = await held(db, "salon")
    await sweep(db, configured(tmp_path, line, enabled=False), Clock(SENT)).run()
    assert await survey_rows(db, event_id) == []


async def test_the_summary_is_posted_once_and_late_answers_are_not_counted(
    db: Database, settings: Settings
) -> None:
    event_id = await held(db, "salon")
    clock = Clock(SENT)
    await sweep(db, settings, clock).run()
    survey = await db.read.questionnaire.survey(event_id)
    assert survey is not None and survey.closes_at == SENT + timedelta(days=3)
    users = [await db.read.users.by_line_id(f"U{n:032x}") for n in range(3)]
    async with db.transaction() as tx:
        for user, choice in zip(users, (1, 1, 4), strict=True):
            assert user is not None
            assert (await tx.questionnaire.answer(survey, user.id, 1, choice, SENT)).accepted
        assert users[2] is not None
        changed = await tx.questionnaire.answer(survey, users[2].id, 1, 2, SENT + timedelta(hours=1))
        assert changed.accepted and changed.next_question == 2  # the last answer counts
        assert users[0] is not None
        late = await tx.questionnaire.answer(survey, users[0].id, 2, 1, survey.closes_at)
        assert not late.accepted
    clock.now = survey.closes_at
    await sweep(db, settings, clock).run()
    await sweep(db, settings, clock).run()
    [message] = await db.read.outbox.in_order(f"slack:{CHANNEL}")
    post = message.row
    assert isinstance(post, ChannelPost)
    text = "\n".join(b["text"]["text"] for b in post.blocks)
    assert "回答：3名 / お送りした3名" in text
    assert "・満足：2名（66.7%）\n・やや満足：1名（33.3%）\n・やや不満：0名（0%）" in text
    assert "*2. また参加したいと思いますか？*（回答0名）" in text
    assert await db.read.questionnaire.pending(users[0].id, clock.now) is None  # nothing pending after it


async def test_a_deletion_on_request_takes_the_citizens_answers(db: Database, settings: Settings) -> None:
    event_id = await held(db, "salon")
    await sweep(db, settings, Clock(SENT)).run()
    survey = await db.read.questionnaire.survey(event_id)
    user = await db.read.users.by_line_id(f"U{0:032x}")
    assert survey is not None and user is not None
    async with db.transaction() as tx:
        await tx.questionnaire.answer(survey, user.id, 1, 1, SENT)
        await forget_citizen(user, tx, SENT)
    tally = await db.read.questionnaire.tally(survey)
    assert tally.answered == 0 and tally.counts[0] == (0, 0, 0, 0)
    assert not await db.read.questionnaire.was_asked(event_id, user.id)
    assert (await db.read.questionnaire.survey(event_id)) == survey  # the count asked stays


async def surveyed_salon(db: Database, citizen: Citizen, questions: list[Question]) -> Event:
    """A salon three hours ago, the citizen registered, its survey claimed with these questions."""
    async with db.transaction() as tx:
        user = await tx.users.ensure(citizen.line_id, NOW)
        past = NOW - timedelta(hours=3)
        draft = EventDraft(
            uid="s1", kind="salon", title="サロン", starts_at=past, ends_at=past + timedelta(hours=1)
        )
        event = await tx.events.upsert(draft, NOW)
        await tx.registrations.put(event.id, user.id, "registered", 1, NOW)
        assert await tx.questionnaire.claim_survey(event.id, questions, NOW + timedelta(days=3), NOW)
    return event


async def test_with_a_consultation_open_typed_text_goes_to_staff_not_to_the_survey(db: Database) -> None:
    """ "2" may answer staff's question on the case: it reaches the case. アンケート asks the survey's
    question again, and then a typed answer goes to it (LINE for PC has no quick replies)."""
    citizen = Citizen(db)
    case = await citizen.open_case()
    questions = [
        Question("満足度は？", ("満足", "やや満足", "不満")),
        Question("また来ますか？", ("はい", "いいえ")),
    ]
    event = await surveyed_salon(db, citizen, questions)

    for words in ("2", "満足です。ありがとうございました"):
        await citizen.say(words)
    assert [m.body for m in await messages_of(db, case)] == ["2", "満足です。ありがとうございました"]
    survey = await db.read.questionnaire.survey(event.id)
    assert survey is not None and (await db.read.questionnaire.tally(survey)).answered == 0

    asked = await citizen.say("アンケート")
    assert "満足度は？" in asked.messages[0].text  # type: ignore[union-attr]
    thanked = await citizen.say("２")
    assert "また来ますか？" in thanked.messages[0].text  # type: ignore[union-attr]
    done = await citizen.say("はい")
    assert done.messages[0] == Text(TEXTS.get("questionnaire.done"))
    assert (await db.read.questionnaire.tally(survey)).counts == ((0, 1, 0), (1, 0))
    assert [m.body for m in await messages_of(db, case)] == ["2", "満足です。ありがとうございました"]
    assert await citizen.conversation() is None
