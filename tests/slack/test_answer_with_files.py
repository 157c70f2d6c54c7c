"""A `返信:` answer with a file attached (Slack's file_share) sends its words to the citizen on LINE and
not the file (sending files is not built). Its author is told so privately, in the thread, so that
nobody believes "I attach the form" arrived with the form. A note with a file is internal anyway, and a
refused answer is told its refusal only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.sandbox.slack_signing import event_callback
from storage.cases import Case
from tests.harness import captured_log, wait_for
from tests.line.test_intake_e2e import USER
from tests.slack.staff_desk import STAFF, case_with_card, settled, staff_desk
from tests.slack.test_desk_e2e import Desk

FILES_NOT_SENT = (
    "添付ファイルは相談者に届きません。LINEに送るのは文章だけです。資料はURLを書いて送ってください。"
)
PDF = {
    "id": "F0001",
    "name": "shinseisho.pdf",
    "mimetype": "application/pdf",
    "filetype": "pdf",
    "size": 12345,
    "url_private": "https://files.slack.com/files-pri/T1-F0001/shinseisho.pdf",
}


def with_file(desk: Desk, case: Case, text: str) -> dict[str, Any]:
    """What Slack delivers for a thread message with a PDF attached."""
    event = desk.slack.user_message_event("C_NPO", STAFF, text, case.slack_ts)
    event.update(subtype="file_share", upload=False, files=[PDF])
    return event


def told(desk: Desk) -> list[dict[str, Any]]:
    return [e for e in desk.slack.ephemerals if e["to_user"] == STAFF]


async def test_an_answer_with_a_file_tells_its_author_the_file_was_not_sent(tmp_path: Path) -> None:
    async with staff_desk(tmp_path, "staff-list") as desk:
        case = await case_with_card(desk)
        await settled(desk, case)
        sent = len(desk.line.sent_messages(USER))
        event = event_callback(with_file(desk, case, "返信:申請書を添付しますので、ご記入ください。"))
        with captured_log("申請書") as log:
            assert (await desk.post(event))[0] == 200
            assert (await desk.post(event, retry_num=1))[0] == 200  # a retry tells nothing again
        await wait_for(lambda: "✅ 相談者に送信しました。" in desk.thread(case))
        got = [m.message for m in desk.line.sent_messages(USER)[sent:]]
        assert [m["type"] for m in got] == ["text"] and "申請書を添付しますので" in got[0]["text"]
        [hint] = told(desk)
        assert hint["text"] == FILES_NOT_SENT
        assert hint["thread_ts"] == case.slack_ts
        log.assert_clean()


async def test_a_note_or_a_refused_answer_with_a_file_says_nothing_of_files(tmp_path: Path) -> None:
    async with staff_desk(tmp_path, "staff-list") as desk:
        case = await case_with_card(desk)
        await settled(desk, case)
        note = with_file(desk, case, "定款の写しです。")
        assert (await desk.post(event_callback(note)))[0] == 200
        assert desk.slack.reactions_on("C_NPO", note["ts"]) == ["memo"]  # kept as a note, marked
        assert told(desk) == []
        too_long = "返信:" + "あ" * 2100
        assert (await desk.post(event_callback(with_file(desk, case, too_long))))[0] == 200
        [refusal] = told(desk)
        assert refusal["text"] != FILES_NOT_SENT
