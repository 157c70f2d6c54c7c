"""`返信：` typed on a Japanese keyboard is an answer, not a silent note; every note is marked as one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.sandbox.slack_signing import event_callback, message_event
from storage.cases import Case
from tests.harness import wait_for
from tests.line.test_intake_e2e import USER
from tests.slack.staff_desk import MODES, STAFF, case_with_card, settled, staff_desk
from tests.slack.test_desk_e2e import Desk

# The answer keeps its own characters: full-width letters and digits are not NFKC'd on the way out.
ANSWER = "ＡＢＣ書式の１２３ページをご覧ください。"
NOTE_KEPT = "社内メモとして保存しました（相談者には送信されていません）。"


async def say_in_thread(desk: Desk, case: Case, text: str, *, stored: bool = True) -> dict[str, Any]:
    """A staff message in the case thread, stored in the fake (so it can be reacted to) unless not."""
    assert case.slack_ts is not None
    if stored:
        message = desk.slack.add_user_message("C_NPO", STAFF, text, thread_ts=case.slack_ts)
        event = message_event("C_NPO", STAFF, str(message["text"]), case.slack_ts, str(message["ts"]))
    else:
        event = message_event("C_NPO", STAFF, text, thread_ts=case.slack_ts)
    assert (await desk.post(event_callback(event)))[0] == 200
    return event


@pytest.mark.parametrize("mode", MODES)
async def test_reply_prefix_variants_reach_the_citizen(tmp_path: Path, mode: str) -> None:
    async with staff_desk(tmp_path, mode) as desk:
        case = await case_with_card(desk)
        variants = [
            f"返信：{ANSWER}",  # full-width colon
            f"返信 :{ANSWER}",
            f"返信：　{ANSWER}",  # full-width space after the colon
            f"　返信: {ANSWER}",  # full-width space before the prefix
            f"  返信 ： {ANSWER}",
        ]
        sent = len(desk.line.sent_messages(USER))
        for n, text in enumerate(variants, start=1):
            await say_in_thread(desk, case, text)
            await wait_for(lambda n=n: len(desk.line.sent_messages(USER)) == sent + n)
            assert (
                desk.line.sent_messages(USER)[-1].message["text"] == f"【受付番号 {case.number}】\n{ANSWER}"
            )
        stored = await desk.bot.db.read.cases.messages(case.id)
        assert [m.body for m in stored if m.direction == "reply"] == [ANSWER] * len(variants)
        assert not [m for m in stored if m.direction == "note"]
        await settled(desk, case)
        assert desk.slack.ephemerals == []


@pytest.mark.parametrize("mode", MODES)
async def test_a_note_is_marked_as_not_sent(tmp_path: Path, mode: str) -> None:
    async with staff_desk(tmp_path, mode) as desk:
        case = await case_with_card(desk)
        sent = len(desk.line.sent_messages(USER))

        # A plain note: a :memo: reaction that everyone in the thread sees, nothing sent.
        note = await say_in_thread(desk, case, "前回の資料を確認しておきます")
        await wait_for(lambda: desk.slack.reactions_on("C_NPO", note["ts"]) == ["memo"])
        assert desk.slack.ephemerals == []

        # A message that looks like a reply but is not one: the author is told in words as well.
        near_miss = await say_in_thread(desk, case, "返信 お世話になっております。")
        await wait_for(lambda: desk.slack.reactions_on("C_NPO", near_miss["ts"]) == ["memo"])
        [hint] = desk.slack.ephemerals
        assert (hint["to_user"], hint["thread_ts"]) == (STAFF, case.slack_ts)
        assert hint["text"] == f"{NOTE_KEPT}相談者に送るには「返信:」で始めてください。"

        # When the reaction cannot be added, the author is still told.
        await say_in_thread(desk, case, "電話で確認済み", stored=False)
        await wait_for(lambda: len(desk.slack.ephemerals) == 2)
        assert desk.slack.ephemerals[-1]["text"] == NOTE_KEPT

        notes = [m.body for m in await desk.bot.db.read.cases.messages(case.id) if m.direction == "note"]
        assert notes == ["前回の資料を確認しておきます", "返信 お世話になっております。", "電話で確認済み"]
        await settled(desk, case)
        assert len(desk.line.sent_messages(USER)) == sent


@pytest.mark.parametrize("subtype", ["thread_broadcast", "file_share"])
async def test_a_reply_also_sent_to_the_channel_or_with_a_file_still_reaches_the_citizen(
    tmp_path: Path, subtype: str
) -> None:
    """Slack marks "also send to #channel" and attached files with a subtype; they are still a person's
    message (edits, joins and bots are not)."""
    async with staff_desk(tmp_path, MODES[0]) as desk:
        case = await case_with_card(desk)
        assert case.slack_ts is not None
        sent = len(desk.line.sent_messages(USER))
        event = message_event("C_NPO", STAFF, f"返信: {ANSWER}", thread_ts=case.slack_ts)
        event["subtype"] = subtype
        assert (await desk.post(event_callback(event)))[0] == 200
        await wait_for(lambda: len(desk.line.sent_messages(USER)) == sent + 1)
        edit = message_event("C_NPO", STAFF, f"返信: {ANSWER}", thread_ts=case.slack_ts)
        edit["subtype"] = "message_changed"
        assert (await desk.post(event_callback(edit)))[0] == 200
        await settled(desk, case)
        assert len(desk.line.sent_messages(USER)) == sent + 1
