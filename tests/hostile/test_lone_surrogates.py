"""Half an emoji: a lone surrogate (a JSON `\\ud83d` escape, valid JSON, no valid UTF-8) in what Slack
or LINE's API sends. SQLite refuses such text; before bot/text_input.py staff's answer to a citizen
was lost with a 400 that Slack's retries repeated, and a citizen whose LINE name held one got no
answer any more. Now the character becomes U+FFFD and the rest goes through.

The fakes send such text as LINE and Slack would: as an ASCII escape (bot/sandbox).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.line_webhook import text_event
from bot.sandbox.slack_signing import event_callback, message_event, typed, view_submission
from bot.text_input import make_storable, storable
from tests.harness import LINE_TOKEN, post_events, settings_for, wait_for
from tests.line.test_intake_e2e import USER, Citizen
from tests.slack.staff_desk import STAFF, case_with_card, settled, staff_desk
from tests.slack.test_reply_length import confirm, open_reply

HALF_EMOJI = "\ud83d"


async def test_staff_answer_in_the_thread_reaches_the_citizen(tmp_path: Path) -> None:
    async with staff_desk(tmp_path, "staff-list") as desk:
        case = await case_with_card(desk)
        sent = len(desk.line.sent_messages(USER))
        answer = event_callback(
            message_event(
                "C_NPO", STAFF, f"返信:ご連絡ありがとうございます{HALF_EMOJI}。", thread_ts=case.slack_ts
            )
        )
        assert b"\\ud83d" in answer[0]  # sent as Slack would send it
        assert (await desk.post(answer))[0] == 200
        await wait_for(lambda: len(desk.line.sent_messages(USER)) == sent + 1)
        assert (
            desk.line.sent_messages(USER)[-1].message["text"].endswith("ご連絡ありがとうございます\ufffd。")
        )

        # A mention of a colleague whose Slack name holds half an emoji: looked up, made readable.
        desk.slack.set_user("U_TARO", "Taro", display_name=f"太郎{HALF_EMOJI}")
        wire = typed("返信:担当は") + "<@U_TARO>" + typed("です。")  # the mention is the client's markup
        mention = event_callback(
            desk.slack.user_message_event("C_NPO", STAFF, wire, case.slack_ts, as_typed=False)
        )
        assert (await desk.post(mention))[0] == 200
        await wait_for(lambda: len(desk.line.sent_messages(USER)) == sent + 2)
        assert desk.line.sent_messages(USER)[-1].message["text"].endswith("担当は@太郎\ufffdです。")

        note = event_callback(message_event("C_NPO", STAFF, "電話で確認済み\udc00", thread_ts=case.slack_ts))
        assert (await desk.post(note))[0] == 200
        await settled(desk, case)
        kept = [m.body for m in await desk.bot.db.read.cases.messages(case.id)]
        assert "電話で確認済み\ufffd" in kept


async def test_staff_answer_and_closing_message_from_the_modals(tmp_path: Path) -> None:
    async with staff_desk(tmp_path, "staff-list") as desk:
        case = await case_with_card(desk)
        view_id = await open_reply(desk, case)
        metadata = desk.slack.open_views[view_id]["private_metadata"]
        submission = view_submission(
            STAFF, "case_reply_compose", {"reply": {"text": f"回答{HALF_EMOJI}"}}, metadata, view_id
        )
        status, answer = await desk.post(submission)
        assert status == 200
        assert "errors" not in desk.slack.answer_view_submission(view_id, answer)
        await confirm(desk, view_id)
        await wait_for(
            lambda: desk.line.sent_messages(USER)[-1].message.get("text", "").endswith("回答\ufffd")
        )

        assert (await desk.press(case, "case_close"))[0] == 200
        opened = [v for v in desk.slack.views if v.action == "open"][-1]
        closing = view_submission(
            STAFF, "case_close_submit", {"message": {"text": f"終了します{HALF_EMOJI}"}},
            opened.view["private_metadata"], opened.view_id,
        )  # fmt: skip
        assert (await desk.post(closing))[0] == 200
        await wait_for(
            lambda: "終了します\ufffd" in desk.line.sent_messages(USER)[-1].message.get("text", "")
        )
        closed = await desk.bot.db.read.cases.get(case.id)
        assert closed is not None and closed.status == "closed"


async def test_a_line_name_with_half_an_emoji_does_not_stop_the_citizens_answers(tmp_path: Path) -> None:
    async with FakeLine(access_token=LINE_TOKEN) as line:
        line.set_profile(USER, f"花子{HALF_EMOJI}")
        async with Runtime(settings_for(tmp_path, line.base_url)) as bot:
            citizen = Citizen(bot.base_url, line, bot)
            await citizen.type("相談する")
            await citizen.tap("yes")  # agreed to the privacy notice: from now on the name is looked up
            before = len(line.sent_messages(USER))
            event = text_event(USER, "開館時間", reply_token=line.issue_reply_token(USER))
            assert (await post_events(bot.base_url, [event]))[0] == 200
            await wait_for(lambda: len(line.sent_messages(USER)) > before)
            user = await bot.db.read.users.by_line_id(USER)
            assert user is not None and user.display_name == "花子\ufffd"
            assert await bot.db.read.inbox.count("failed") == 0


@pytest.mark.parametrize("text", ["\ud800", "a\udfffb", "😀\ud83d", "\udc00\ud800"])
def test_storable_keeps_the_rest_of_the_text(text: str) -> None:
    cleaned = storable(text)
    cleaned.encode()  # storable as UTF-8
    assert cleaned.replace("\ufffd", "") == "".join(c for c in text if not 0xD800 <= ord(c) <= 0xDFFF)
    tree = {"a": [text, {"b": text}], "n": 1, "ok": "そのまま"}
    make_storable(tree)
    assert tree == {"a": [cleaned, {"b": cleaned}], "n": 1, "ok": "そのまま"}
