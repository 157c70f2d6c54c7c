"""Telling staff privately, once their act is decided, is best effort: a dropped connection to Slack
(chat.postEphemeral, reactions.add) must not turn a committed act into a 500. Slack would retry it,
dedupe would skip the retry, and the words would be lost all the same. The request is answered 200,
the failure is logged by kind only (no text, no personal data), and nothing is done twice.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.sandbox.slack_signing import event_callback
from tests.harness import captured_log
from tests.line.test_intake_e2e import USER
from tests.slack.staff_desk import STAFF, case_with_card, settled, staff_desk
from tests.wards.world import world

NOTE_HINT = "相談者に送るには「返信:」で始めてください"


async def test_a_refusal_that_cannot_be_told_still_answers_200(tmp_path: Path) -> None:
    async with staff_desk(tmp_path, "staff-list") as desk:
        case = await case_with_card(desk)
        await settled(desk, case)
        sent = len(desk.line.sent_messages(USER))
        too_long = "返信:" + "あ" * 2100
        event = event_callback(desk.slack.user_message_event("C_NPO", STAFF, too_long, case.slack_ts))
        desk.slack.fail_next("drop", method="chat.postEphemeral")
        with captured_log("あああ") as log:
            first, _ = await desk.post(event)
            retry, _ = await desk.post(event, retry_num=1)
        assert (first, retry) == (200, 200)
        assert len(desk.line.sent_messages(USER)) == sent  # refused: nothing sent, nothing stored
        assert await desk.bot.db.read.cases.messages(case.id) == []
        assert "event=slack.ephemeral_failed error=ServerDisconnectedError" in log.text
        assert "event=slack.duplicate" in log.text  # the retry did nothing (and told nothing)
        log.assert_clean()


async def test_a_note_whose_reaction_cannot_be_added_is_told_in_words(tmp_path: Path) -> None:
    async with staff_desk(tmp_path, "staff-list") as desk:
        case = await case_with_card(desk)
        await settled(desk, case)
        text = "返信 お世話になります。書類をお送りします。"
        event = event_callback(desk.slack.user_message_event("C_NPO", STAFF, text, case.slack_ts))
        desk.slack.fail_next("drop", method="reactions.add")
        with captured_log("書類をお送り") as log:
            first, _ = await desk.post(event)
        assert first == 200
        assert [(m.direction, m.body) for m in await desk.bot.db.read.cases.messages(case.id)] == [
            ("note", text)
        ]
        told = [e for e in desk.slack.ephemerals if e["to_user"] == STAFF]
        assert len(told) == 1 and NOTE_HINT in told[0]["text"]
        assert told[0]["thread_ts"] == case.slack_ts
        assert "event=slack.note_reaction_failed error=ServerDisconnectedError" in log.text
        log.assert_clean()


async def test_a_notice_answer_refusal_that_cannot_be_told_still_answers_200(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        notice = await w.send_notice()
        assert notice.answer_by is not None
        w.clock.now = notice.answer_by + timedelta(minutes=1)  # past the deadline: refused
        body = await w.slack_body(notice, 6, "attend")
        w.slack.fail_next("drop", method="chat.postEphemeral")
        with captured_log("締め切り") as log:
            first, _ = await w.post(body)
        assert first == 200
        assert w.ephemerals(6) == []
        assert (await w.recipient(notice, 6)).answer is None
        assert "event=slack.ephemeral_failed error=ServerDisconnectedError" in log.text
        log.assert_clean()
