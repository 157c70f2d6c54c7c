"""Conversations left hanging (`flows.idle.sweep_idle`): one nudge, suspension as a draft, deletion.

The sweeper runs against the real storage at hand-set times; what it leaves behind is then driven
through the front desk, as the citizen would find it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from flows.desk import Reply, StaffEvent
from flows.idle import IdleNotice, idle_policy, sweep_idle
from flows.messages import Choice, Inbound, Text
from flows.paging import listing
from storage import Database
from storage.conversations import Conversation
from tests.conftest import NOW
from tests.flows.test_desk import (
    CONTACT,
    FURIGANA,
    MENU,
    NAME,
    NOTICE,
    PRIVACY,
    TEXTS,
    Citizen,
    at_name,
    desk_context,
    messages_of,
    text,
)

POLICY = idle_policy(30, 24, 7)
# The nudge's lead-in; the question the citizen stopped at follows it.
NUDGE = Text(TEXTS.get("flow.nudge") + "\n" + TEXTS.get("flow.nudge_cancel"))
EXPIRED = text("flow.expired", days=7)
DRAFT_CHOICES = (
    Choice(TEXTS.get("flow.resume"), "flow:resume"),
    Choice(TEXTS.get("flow.restart"), "flow:restart"),
)
# Listed in the text too: LINE for PC shows no quick replies.
DRAFT_FOUND = Text(
    TEXTS.get("flow.draft_found") + "\n" + listing(DRAFT_CHOICES, TEXTS), choices=DRAFT_CHOICES
)


def typed(words: str) -> Inbound:
    return Inbound("text", text=words)


async def sweep(db: Database, now: datetime) -> list[IdleNotice]:
    async with db.transaction() as tx:
        return await sweep_idle(tx, desk_context(now), POLICY)


def replies(notices: list[IdleNotice]) -> list[tuple[str, Reply]]:
    return [(n.user.line_user_id, n.reply) for n in notices]


async def stored(citizen: Citizen) -> Conversation:
    conversation = await citizen.conversation()
    assert conversation is not None
    return conversation


@pytest.fixture
def citizen(db: Database) -> Citizen:
    return Citizen(db)


async def suspended(citizen: Citizen) -> datetime:
    """From the name step (reached at NOW): nudged after 31 minutes (asked its name again), suspended
    a day later; returns when."""
    assert replies(await sweep(citizen.db, NOW + timedelta(minutes=31))) == [
        (citizen.line_id, Reply([NUDGE, NAME]))
    ]
    when = NOW + timedelta(hours=24, minutes=1)
    assert replies(await sweep(citizen.db, when)) == [(citizen.line_id, Reply([EXPIRED]))]
    return when


async def test_a_conversation_idle_for_29_minutes_is_left_alone(citizen: Citizen) -> None:
    before = await at_name(citizen)
    assert await sweep(citizen.db, NOW + timedelta(minutes=29)) == []
    assert await stored(citizen) == before


async def test_after_31_minutes_the_citizen_is_nudged_once(citizen: Citizen) -> None:
    before = await at_name(citizen)
    nudged_at = NOW + timedelta(minutes=31)

    notices = await sweep(citizen.db, nudged_at)

    assert replies(notices) == [(citizen.line_id, Reply([NUDGE, NAME]))]
    assert notices[0].user.id == before.user_id
    after = await stored(citizen)
    assert after.nudged_at == nudged_at
    assert (after.updated_at, after.started_at, after.step, after.data) == (NOW, NOW, "name", before.data)

    assert await sweep(citizen.db, NOW + timedelta(minutes=40)) == []  # once, not at every sweep
    assert await stored(citizen) == after


async def test_a_day_later_the_conversation_is_suspended_as_a_draft(citizen: Citizen) -> None:
    before = await at_name(citizen)
    when = await suspended(citizen)
    assert "7日間" in EXPIRED.text
    after = await stored(citizen)
    assert after.data == {**before.data, "draft": True}
    assert (after.flow, after.step, after.updated_at, after.started_at) == ("intake", "name", when, NOW)
    # Suspended once: later sweeps within the keeping period say nothing and keep the draft.
    assert await sweep(citizen.db, when + timedelta(hours=1)) == []
    assert await stored(citizen) == after


async def test_a_conversation_never_nudged_is_still_suspended_after_a_day(citizen: Citizen) -> None:
    before = await at_name(citizen)
    notices = await sweep(citizen.db, NOW + timedelta(hours=25))
    assert replies(notices) == [(citizen.line_id, Reply([EXPIRED]))]
    assert (await stored(citizen)).data == {**before.data, "draft": True}


async def test_consult_with_a_draft_offers_to_resume_or_restart(citizen: Citizen) -> None:
    await at_name(citizen)
    when = await suspended(citizen)
    draft = await stored(citizen)
    citizen.now = when + timedelta(days=2)
    assert await citizen.say("相談する") == Reply([DRAFT_FOUND])
    assert await stored(citizen) == draft  # asking changes nothing


@pytest.mark.parametrize(
    ("typed_answer", "resumed"),
    [("続ける", True), ("1", True), ("１", True), ("続きから", True), ("最初から", False), ("2", False)],
)
async def test_the_draft_question_can_be_answered_by_typing(
    citizen: Citizen, typed_answer: str, resumed: bool
) -> None:
    """LINE for PC: no quick replies; the options are listed, and a number or a word answers."""
    await at_name(citizen)
    when = await suspended(citizen)
    citizen.now = when + timedelta(days=2)
    assert await citizen.say("相談する") == Reply([DRAFT_FOUND])
    answer = await citizen.say(typed_answer)
    kept = await stored(citizen)
    assert kept.data["draft"] is False
    if resumed:
        assert answer == Reply([NAME])
    else:
        assert kept.step != "name" and answer.messages[0] != NAME


async def test_a_long_message_while_a_draft_is_kept_is_no_answer_to_its_question(citizen: Citizen) -> None:
    await at_name(citizen)
    when = await suspended(citizen)
    citizen.now = when + timedelta(days=2)
    await citizen.say("相談する")
    await citizen.say("続きからではなく、別の件で最初から相談したいのですがよろしいでしょうか。")
    assert (await stored(citizen)).data["draft"] is True


async def test_resuming_a_draft_asks_the_saved_question_and_clears_the_draft(citizen: Citizen) -> None:
    before = await at_name(citizen)
    when = await suspended(citizen)
    citizen.now = when + timedelta(days=2)
    await citizen.tap("consult")

    assert await citizen.tap("flow:resume") == Reply([NAME])

    after = await stored(citizen)
    assert after.data["draft"] is False and after.data == before.data
    assert (after.step, after.updated_at, after.nudged_at, after.started_at) == (
        "name",
        citizen.now,
        None,
        NOW,
    )
    assert await citizen.say("山田 花子") == Reply([FURIGANA])  # and the intake goes on


async def test_restarting_a_draft_begins_a_fresh_intake_at_privacy(citizen: Citizen) -> None:
    await at_name(citizen)
    when = await suspended(citizen)
    citizen.now = when + timedelta(days=2)
    await citizen.say("相談する")

    assert await citizen.tap("flow:restart") == Reply([NOTICE, PRIVACY])

    after = await stored(citizen)
    assert (after.flow, after.step, after.started_at, after.nudged_at) == (
        "intake",
        "privacy",
        citizen.now,
        None,
    )
    assert after.data.get("answers") == {} and after.data["draft"] is False


async def test_a_draft_is_deleted_silently_seven_days_after_suspension(citizen: Citizen) -> None:
    await at_name(citizen)
    when = await suspended(citizen)
    assert await sweep(citizen.db, when + timedelta(days=7) - timedelta(minutes=1)) == []
    assert (await stored(citizen)).data["draft"] is True
    assert await sweep(citizen.db, when + timedelta(days=7)) == []
    assert await citizen.conversation() is None
    citizen.now = when + timedelta(days=8)
    assert await citizen.say("相談する") == Reply([NOTICE, PRIVACY])  # nothing left to resume


async def test_after_a_nudge_the_answer_typed_is_taken_for_the_question_asked_again(citizen: Citizen) -> None:
    """The nudge asks the question the citizen stopped at, not "continue?": no yes/no question is
    left open that a typed はい or 続ける could answer (it used to become the name)."""
    before = await at_name(citizen)
    assert replies(await sweep(citizen.db, NOW + timedelta(minutes=31))) == [
        (citizen.line_id, Reply([NUDGE, NAME]))
    ]
    citizen.now = NOW + timedelta(minutes=45)

    assert await citizen.say("山田 花子") == Reply([FURIGANA])

    after = await stored(citizen)
    assert after.data["answers"] == {**before.data["answers"], "name": "山田 花子"}
    assert (after.step, after.nudged_at) == ("furigana", None)


async def test_a_nudge_at_a_question_with_options_lists_them_to_be_typed(citizen: Citizen) -> None:
    await at_name(citizen)
    assert await citizen.say("やまだ はなこ") == Reply([CONTACT])  # in kana: no ふりがな asked
    assert replies(await sweep(citizen.db, NOW + timedelta(minutes=31))) == [
        (citizen.line_id, Reply([NUDGE, CONTACT]))
    ]
    citizen.now = NOW + timedelta(minutes=45)
    await citizen.say("２")  # the number in the list, typed on a Japanese keyboard
    assert (await stored(citizen)).data["answers"]["contact_method"] == "phone"


async def test_a_nudge_while_cancel_is_being_asked_asks_that_again_without_the_hint(citizen: Citizen) -> None:
    """At "really cancel?" a typed キャンセル is no answer: the nudge does not suggest it there."""
    await at_name(citizen)
    asked = await citizen.say("キャンセル")
    [(_, reply)] = replies(await sweep(citizen.db, NOW + timedelta(minutes=31)))
    assert reply == Reply([text("flow.nudge"), *asked.messages])
    citizen.now = NOW + timedelta(minutes=45)
    assert await citizen.say("はい") == Reply([text("flow.cancelled"), MENU])
    assert await citizen.conversation() is None


async def test_resume_after_a_nudge_asks_the_current_question_again(citizen: Citizen) -> None:
    """続ける (`flow:resume`), the button of the nudges sent before they asked the question."""
    before = await at_name(citizen)
    await sweep(citizen.db, NOW + timedelta(minutes=31))
    citizen.now = NOW + timedelta(minutes=45)

    assert await citizen.tap("flow:resume") == Reply([NAME])

    after = await stored(citizen)
    assert (after.step, after.data, after.updated_at, after.nudged_at) == (
        "name",
        before.data,
        citizen.now,
        None,
    )
    # Active again: the next sweeps leave it alone until it has been idle a while once more.
    assert await sweep(citizen.db, citizen.now + timedelta(minutes=29)) == []


@pytest.mark.parametrize(
    "cancel", [Inbound("choice", value="flow:cancel"), *map(typed, ["キャンセル", "やめる"])]
)
async def test_cancel_after_a_nudge_asks_first_then_ends_the_intake(
    citizen: Citizen, cancel: Inbound
) -> None:
    """The question's キャンセル button, or typed (LINE for PC shows no buttons; the nudge says so)."""
    await at_name(citizen)
    await sweep(citizen.db, NOW + timedelta(minutes=31))
    citizen.now = NOW + timedelta(minutes=45)
    asked = await citizen.send(cancel)  # answers were given: one word loses nothing
    assert asked.messages[-1].text.startswith(TEXTS.get("flow.cancel_question"))  # type: ignore[union-attr]
    assert await citizen.conversation() is not None
    assert await citizen.say("はい") == Reply([text("flow.cancelled"), MENU])
    assert await citizen.conversation() is None


async def test_held_follow_ups_are_filed_with_the_newest_case_by_the_sweeper(citizen: Citizen) -> None:
    older = await citizen.open_case()
    newest = await citizen.open_case()
    await citizen.say("追加の資料です。")
    assert await sweep(citizen.db, NOW + timedelta(minutes=29)) == []
    assert await messages_of(citizen.db, newest) == []

    filed_at = NOW + timedelta(minutes=31)
    notices = await sweep(citizen.db, filed_at)

    [message] = await messages_of(citizen.db, newest)
    assert (message.direction, message.kind, message.body) == ("citizen", "text", "追加の資料です。")
    assert message.created_at == filed_at
    assert replies(notices) == [
        (
            citizen.line_id,
            Reply(
                [text("followup.added", number=newest.number)],
                [StaffEvent("case_followup", newest.id, message.id)],
            ),
        )
    ]
    assert await messages_of(citizen.db, older) == []
    assert await citizen.conversation() is None


async def test_a_follow_up_to_the_only_open_case_leaves_a_draft_in_place(citizen: Citizen) -> None:
    case = await citizen.open_case()
    await at_name(citizen)
    when = await suspended(citizen)
    draft = await stored(citizen)
    citizen.now = when + timedelta(hours=1)
    [_] = (await citizen.say("先日の相談について追加です。")).staff
    assert [m.body for m in await messages_of(citizen.db, case)] == ["先日の相談について追加です。"]
    assert await stored(citizen) == draft
    assert await citizen.say("相談する") == Reply([DRAFT_FOUND])


async def test_a_follow_up_while_a_draft_is_kept_goes_to_the_newest_case_and_keeps_the_draft(
    citizen: Citizen,
) -> None:
    """One conversation row per citizen: asking "which case?" would replace the draft, so the message
    goes with the newest open case instead, and the draft stays resumable."""
    await citizen.open_case()
    newest = await citizen.open_case()
    before = await at_name(citizen)
    when = await suspended(citizen)
    citizen.now = when + timedelta(hours=1)

    reply = await citizen.say("先日の相談について追加です。")
    assert [m.body for m in await messages_of(citizen.db, newest)] == ["先日の相談について追加です。"]
    assert reply.staff and reply.staff[0].case_id == newest.id

    assert await citizen.say("相談する") == Reply([DRAFT_FOUND])
    assert await citizen.tap("flow:resume") == Reply([NAME])
    assert (await stored(citizen)).data == before.data


@pytest.mark.parametrize(
    ("flow", "data", "answer"),
    [
        ("intake", {"answers": "not a mapping"}, "ヘルプ"),
        ("intake", {"draft": "perhaps", "answers": {}}, "ヘルプ"),
        ("followup", {"held": [{"kind": "text"}], "cases": [1]}, "ヘルプ"),
        ("delete", {"previous": {"flow": "intake"}}, "いいえ"),
    ],
)
async def test_a_state_that_fits_its_flow_no_more_is_dropped_not_acted_on(
    citizen: Citizen, flow: str, data: dict[str, object], answer: str
) -> None:
    """An older version's or a damaged row: the citizen is answered afresh, the sweep goes on."""
    other = Citizen(citizen.db, line_id="U_TARO")
    await at_name(other)
    user = await citizen.user()
    async with citizen.db.transaction() as tx:
        await tx.conversations.save(Conversation(user.id, flow, "which", NOW, NOW, data=data))

    assert replies(await sweep(citizen.db, NOW + timedelta(minutes=31))) == [
        (other.line_id, Reply([NUDGE, NAME]))
    ]
    assert await citizen.conversation() is None

    async with citizen.db.transaction() as tx:
        await tx.conversations.save(Conversation(user.id, flow, "which", NOW, NOW, data=data))
    assert (await citizen.say(answer)).messages[-1] == MENU
    assert await citizen.conversation() is None
