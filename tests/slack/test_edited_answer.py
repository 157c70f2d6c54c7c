"""An edit of a thread message (Slack's `message_changed`) is never sent to the citizen: an answer went
as first written, and an edited note stays a note. Staff naturally edit: the note hint says "start with
返信:", and a wrong date gets fixed in place. So the author is told privately, in the thread, that the
edit was not sent and to send a new 返信: message. Nothing is resent. Edits that do not concern an
answer (a note edited, a link unfurled, our own card redrawn) say nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.sandbox.slack_signing import event_callback, message_event, new_ts
from tests.harness import captured_log, wait_for
from tests.line.test_intake_e2e import USER
from tests.slack.staff_desk import STAFF, case_with_card, settled, staff_desk
from tests.slack.test_desk_e2e import Desk

EDIT_NOT_SENT = (
    "編集した内容は相談者に送信されません。訂正や追加は、新しいメッセージを「返信:」で始めて送ってください。"
)


def message_changed(
    channel: str, user: str, ts: str, thread_ts: str, old: str, new: str, **more: Any
) -> dict[str, Any]:
    """What Slack delivers when a person edits a thread reply (Events API, message.channels)."""
    edited = new_ts()
    inner = {"type": "message", "user": user, "ts": ts, "thread_ts": thread_ts, "parent_user_id": "U_BOT"}
    return {
        "type": "message",
        "subtype": "message_changed",
        "hidden": True,
        "channel": channel,
        "ts": edited,
        "event_ts": edited,
        "channel_type": "channel",
        "message": {**inner, "text": new, "edited": {"user": user, "ts": edited}, **more},
        "previous_message": {**inner, "text": old},
    }


def told(desk: Desk) -> list[str]:
    return [str(e["text"]) for e in desk.slack.ephemerals if e["to_user"] == STAFF]


async def test_a_note_edited_into_an_answer_is_not_sent_and_its_author_is_told(tmp_path: Path) -> None:
    async with staff_desk(tmp_path, "staff-list") as desk:
        case = await case_with_card(desk)
        await settled(desk, case)
        assert case.slack_ts is not None
        note = "返信 必要書類は定款と役員名簿です。"
        first = desk.slack.user_message_event("C_NPO", STAFF, note, case.slack_ts)
        assert (await desk.post(event_callback(first)))[0] == 200
        assert len(told(desk)) == 1  # the hint: start with 返信:
        sent = len(desk.line.sent_messages(USER))
        fixed = "返信: 必要書類は定款と役員名簿です。"
        edit = event_callback(message_changed("C_NPO", STAFF, first["ts"], case.slack_ts, note, fixed))
        with captured_log("役員名簿") as log:
            assert (await desk.post(edit))[0] == 200
            assert (await desk.post(edit, retry_num=1))[0] == 200  # a retry tells once
        assert told(desk)[1:] == [EDIT_NOT_SENT]
        assert desk.slack.ephemerals[-1]["thread_ts"] == case.slack_ts
        await settled(desk, case)
        assert len(desk.line.sent_messages(USER)) == sent  # nothing sent automatically
        stored = [(m.direction, m.body) for m in await desk.bot.db.read.cases.messages(case.id)]
        assert stored == [("note", note)]
        log.assert_clean()


async def test_an_answer_edited_after_it_was_sent_is_not_resent(tmp_path: Path) -> None:
    async with staff_desk(tmp_path, "staff-list") as desk:
        case = await case_with_card(desk)
        assert case.slack_ts is not None
        ts = new_ts()
        answer = "返信:面談は12月5日です。"
        posted = event_callback(message_event("C_NPO", STAFF, answer, case.slack_ts, ts))
        assert (await desk.post(posted))[0] == 200
        await wait_for(lambda: "✅ 相談者に送信しました。" in desk.thread(case))
        sent = len(desk.line.sent_messages(USER))
        edit = message_changed("C_NPO", STAFF, ts, case.slack_ts, answer, "返信:面談は12月6日です。")
        assert (await desk.post(event_callback(edit)))[0] == 200
        assert told(desk) == [EDIT_NOT_SENT]
        await settled(desk, case)
        assert len(desk.line.sent_messages(USER)) == sent
        replies = [m.body for m in await desk.bot.db.read.cases.messages(case.id) if m.direction == "reply"]
        assert replies == ["面談は12月5日です。"]


async def test_edits_that_concern_no_answer_say_nothing(tmp_path: Path) -> None:
    async with staff_desk(tmp_path, "staff-list") as desk:
        case = await case_with_card(desk)
        await settled(desk, case)
        assert case.slack_ts is not None
        thread = case.slack_ts
        answer = "返信:資料はこちらです https://example.jp/a.pdf"
        edits = [
            # A note edited: still a note, as its :memo: says.
            message_changed("C_NPO", STAFF, new_ts(), thread, "電話済み", "電話済み（15時）"),
            # Slack unfurled a link: same words.
            message_changed("C_NPO", STAFF, new_ts(), thread, answer, answer, attachments=[{"id": 1}]),
            # An answer edited in a thread that is no case's.
            message_changed("C_NPO", STAFF, new_ts(), new_ts(), "返信:はい", "返信:いいえ"),
        ]
        # Our own card, redrawn with chat.update (a top-level message by the bot).
        card = message_changed("C_NPO", "U_BOT", thread, thread, "返信", "返信:", bot_id="B1")
        for edit in [*edits, card]:
            assert (await desk.post(event_callback(edit)))[0] == 200
        assert told(desk) == []
