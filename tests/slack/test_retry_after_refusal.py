"""A staff act refused before it was carried out, and Slack's retry of that same delivery (Slack retries
when our answer took over 3 s, which a slow membership look-up causes): once the actor was told
(here: "could not check, try again"), the delivery is answered for good, and a retry does nothing,
since the actor already did what they were told. When the refusal could not be told, the retry is the
only retry and is carried out (review 46, D3)."""

from __future__ import annotations

from pathlib import Path

from bot.sandbox.slack_signing import event_callback, message_event
from tests.harness import wait_for
from tests.line.test_intake_e2e import USER
from tests.slack.staff_desk import STAFF, case_with_card, settled, staff_desk

CHECK_FAILED = "スタッフかどうかを確認できませんでした。しばらくしてからもう一度お試しください。"
ANSWER = "設立には定款が必要です。"


async def test_a_retry_of_an_answer_refused_as_unchecked_is_not_sent_after_the_actor_retried(
    tmp_path: Path,
) -> None:
    async with staff_desk(tmp_path, "channel-members") as desk:
        case = await case_with_card(desk)
        sent = len(desk.line.sent_messages(USER))
        desk.slack.fail_next("error:internal_error", method="conversations.members")
        first = event_callback(message_event("C_NPO", STAFF, f"返信:{ANSWER}", thread_ts=case.slack_ts))
        assert (await desk.post(first))[0] == 200
        assert [e["text"] for e in desk.slack.ephemerals] == [CHECK_FAILED]
        # As told, the staff member types the answer again: it is sent.
        again = event_callback(message_event("C_NPO", STAFF, f"返信:{ANSWER}", thread_ts=case.slack_ts))
        assert (await desk.post(again))[0] == 200
        await wait_for(lambda: len(desk.line.sent_messages(USER)) == sent + 1)
        # Slack's retry of the first delivery (X-Slack-Retry-Num: 1, the same event_id).
        assert (await desk.post(first, retry_num=1))[0] == 200
        await settled(desk, case)
        replies = [m.body for m in await desk.bot.db.read.cases.messages(case.id) if m.direction == "reply"]
        assert replies == [ANSWER]
        assert len(desk.line.sent_messages(USER)) == sent + 1
        assert [e["text"] for e in desk.slack.ephemerals] == [CHECK_FAILED]  # told once


async def test_a_retry_of_an_answer_refused_without_telling_the_actor_is_sent(tmp_path: Path) -> None:
    async with staff_desk(tmp_path, "channel-members") as desk:
        case = await case_with_card(desk)
        sent = len(desk.line.sent_messages(USER))
        desk.slack.fail_next("error:internal_error", method="conversations.members")
        desk.slack.fail_next("error:internal_error", method="chat.postEphemeral")
        first = event_callback(message_event("C_NPO", STAFF, f"返信:{ANSWER}", thread_ts=case.slack_ts))
        assert (await desk.post(first))[0] == 200
        assert desk.slack.ephemerals == []  # the staff member saw nothing, so does not type it again
        # Slack's retry is then the only retry: it is carried out, once.
        assert (await desk.post(first, retry_num=1))[0] == 200
        await wait_for(lambda: len(desk.line.sent_messages(USER)) == sent + 1)
        assert (await desk.post(first, retry_num=2))[0] == 200
        await settled(desk, case)
        replies = [m.body for m in await desk.bot.db.read.cases.messages(case.id) if m.direction == "reply"]
        assert replies == [ANSWER]
        assert len(desk.line.sent_messages(USER)) == sent + 1
