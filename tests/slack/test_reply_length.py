"""The reply modal checks the length in its first step and keeps the draft in storage, not in the
modal: private_metadata holds at most 3,000 characters, and Slack refuses a view that carries more."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox.slack_signing import event_callback, message_event, view_submission
from storage.cases import Case
from tests.harness import wait_for
from tests.line.test_intake_e2e import USER
from tests.slack.staff_desk import MODES, STAFF, STAFF_B, case_with_card, settled, staff_desk
from tests.slack.test_desk_e2e import Desk

TOO_LONG = "返信が長すぎます（{n}文字）。2000文字以内にしてください。"


async def open_reply(desk: Desk, case: Case, user: str = STAFF) -> str:
    assert (await desk.press(case, "case_reply", user=user))[0] == 200
    opened = [v for v in desk.slack.views if v.action == "open"][-1]
    assert opened.view["callback_id"] == "case_reply_compose"
    return opened.view_id


async def compose(desk: Desk, case: Case, view_id: str, text: str, user: str = STAFF) -> dict[str, Any]:
    """Submit the compose step; what Slack makes of our answer (the fake checks it as Slack does)."""
    metadata = desk.slack.open_views[view_id]["private_metadata"]
    submission = view_submission(user, "case_reply_compose", {"reply": {"text": text}}, metadata, view_id)
    status, answer = await desk.post(submission)
    assert status == 200
    return desk.slack.answer_view_submission(view_id, answer)


async def confirm(desk: Desk, view_id: str, user: str = STAFF) -> None:
    metadata = desk.slack.open_views[view_id]["private_metadata"]
    submission = view_submission(user, "case_reply_confirm", {}, metadata, view_id)
    status, answer = await desk.post(submission)
    assert status == 200
    assert desk.slack.answer_view_submission(view_id, answer) == {"ok": True}


@pytest.mark.parametrize("mode", MODES)
async def test_an_overlong_reply_is_refused_in_the_modal(tmp_path: Path, mode: str) -> None:
    async with staff_desk(tmp_path, mode) as desk:
        case = await case_with_card(desk)
        view_id = await open_reply(desk, case)
        for text in ("a" * 10_000, "あ" * 2001):
            shown = await compose(desk, case, view_id, text)
            assert shown == {"ok": True, "errors": {"reply": TOO_LONG.format(n=len(text))}}
        assert await desk.bot.db.read.reply_drafts.get(1) is None  # nothing kept
        assert await desk.bot.db.read.cases.messages(case.id) == []

        # The same limit in the thread (返信:): refused privately, nothing sent.
        sent = len(desk.line.sent_messages(USER))
        long_answer = event_callback(
            message_event("C_NPO", STAFF, "返信:" + "い" * 2001, thread_ts=case.slack_ts)
        )
        assert (await desk.post(long_answer))[0] == 200
        await wait_for(lambda: len(desk.slack.ephemerals) == 1)
        assert desk.slack.ephemerals[0]["text"] == TOO_LONG.format(n=2001)
        await settled(desk, case)
        assert len(desk.line.sent_messages(USER)) == sent


@pytest.mark.parametrize("mode", MODES)
async def test_a_reply_at_the_limit_is_sent_exactly_from_a_stored_draft(tmp_path: Path, mode: str) -> None:
    async with staff_desk(tmp_path, mode) as desk:
        case = await case_with_card(desk)
        # 2,000 characters with quotes and line breaks: JSON-escaped, the text alone would overflow
        # private_metadata.
        text = '"はい"\n' * 400
        assert len(text) == 2000 and len(json.dumps(text, ensure_ascii=False)) > 3000
        view_id = await open_reply(desk, case)
        preview = await compose(desk, case, view_id, text)
        assert preview["ok"], preview
        metadata = json.loads(preview["view"]["private_metadata"])
        assert set(metadata) == {"case_id", "draft_id"}
        expected = f"【受付番号 {case.number}】\n{text.strip()}"
        shown = [b["text"]["text"] for b in preview["view"]["blocks"] if b["type"] == "section"]
        assert expected in shown
        draft = await desk.bot.db.read.reply_drafts.get(int(metadata["draft_id"]))
        assert draft is not None and (draft.case_id, draft.author, draft.text) == (
            case.id,
            STAFF,
            text.strip(),
        )

        # Another staff member's confirmation of this draft sends nothing.
        sent = len(desk.line.sent_messages(USER))
        forged = view_submission(
            STAFF_B, "case_reply_confirm", {}, preview["view"]["private_metadata"], "V_X"
        )
        assert (await desk.post(forged))[0] == 200
        await wait_for(lambda: len(desk.slack.ephemerals) == 1)
        assert desk.slack.ephemerals[0]["to_user"] == STAFF_B
        assert desk.slack.ephemerals[0]["text"].startswith("この返信の下書きは見つかりません。")

        await confirm(desk, view_id)
        await wait_for(lambda: len(desk.line.sent_messages(USER)) == sent + 1)
        assert desk.line.sent_messages(USER)[-1].message["text"] == expected
        assert await desk.bot.db.read.reply_drafts.get(draft.id) is None
        await settled(desk, case)
        assert len(desk.line.sent_messages(USER)) == sent + 1
