"""After an ambiguous card post (docs/slack.md, at-least-once) two identical cards are in the channel and
only the second is the case's. An answer typed in the thread of the other reaches no one: its author
is told so privately, in that thread, instead of hearing nothing. Talk under other posts is left alone.
"""

from __future__ import annotations

from pathlib import Path

from bot.sandbox.slack_signing import event_callback
from storage.cases import Case
from tests.harness import wait_for
from tests.line.test_intake_e2e import USER, Citizen
from tests.slack.staff_desk import STAFF, settled, staff_desk
from tests.slack.test_desk_e2e import Desk, card_posted, submit_intake

NOT_A_CASE = (
    "このスレッドは相談に登録されていないため、相談者には送信されていません。"
    "同じ相談のカードが2つあるときは、もう一方のカードのスレッドで送り直してください。"
)


async def two_cards(desk: Desk) -> tuple[Case, str]:
    """The case (its card the second post) and the ts of the first, duplicate card."""
    desk.slack.fail_next("lost_response", method="chat.postMessage")
    await submit_intake(Citizen(desk.bot.base_url, desk.line))
    case = await card_posted(desk)
    await settled(desk, case)
    cards = [m for m in desk.slack.messages_in("C_NPO") if m.get("blocks")]
    assert len(cards) == 2 and cards[1]["ts"] == case.slack_ts
    return case, str(cards[0]["ts"])


async def test_an_answer_under_the_duplicate_card_is_told_it_was_not_sent(tmp_path: Path) -> None:
    async with staff_desk(tmp_path, "staff-list") as desk:
        case, orphan = await two_cards(desk)
        sent = len(desk.line.sent_messages(USER))
        for text in ("返信:必要書類をご案内します。", "返信 必要書類をご案内します。"):
            event = desk.slack.user_message_event("C_NPO", STAFF, text, orphan)
            assert (await desk.post(event_callback(event)))[0] == 200
        told = [e for e in desk.slack.ephemerals if e["to_user"] == STAFF]
        assert [(e["text"], e["channel"], e["thread_ts"]) for e in told] == [
            (NOT_A_CASE, "C_NPO", orphan)
        ] * 2
        assert len(desk.line.sent_messages(USER)) == sent
        assert await desk.bot.db.read.cases.messages(case.id) == []

        # Sent again where it says, it reaches the citizen.
        again = desk.slack.user_message_event("C_NPO", STAFF, "返信:必要書類をご案内します。", case.slack_ts)
        assert (await desk.post(event_callback(again)))[0] == 200
        await wait_for(lambda: len(desk.line.sent_messages(USER)) == sent + 1)


async def test_other_talk_in_threads_is_left_alone(tmp_path: Path) -> None:
    async with staff_desk(tmp_path, "staff-list") as desk:
        _, orphan = await two_cards(desk)
        # A note under the duplicate card, and an answer under a person's own message: no case, no word.
        note = desk.slack.user_message_event("C_NPO", STAFF, "電話で確認済み。", orphan)
        own = desk.slack.add_user_message("C_NPO", STAFF, "来週の予定について")
        answer = desk.slack.user_message_event("C_NPO", STAFF, "返信:了解です。", str(own["ts"]))
        for event in (note, answer):
            assert (await desk.post(event_callback(event)))[0] == 200
        assert desk.slack.ephemerals == []
        assert desk.slack.find_calls("reactions.add") == []
