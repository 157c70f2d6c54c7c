"""After 削除 nothing of the citizen's words stays in a post the bot made in Slack, including the copies
whose ts we never learnt (review 40, R1, R2, R5, R6):

- chat.postMessage is at-least-once (docs/slack.md): after a lost answer a card or a follow-up is in
  Slack twice and only one ts is recorded; a post still in flight when the deletion commits has its
  row cancelled and its ts never recorded. Every copy of the card is redrawn without the data, every
  copy of a follow-up is deleted: found in Slack by the message metadata naming the case.
- The bot's own copy of an answer written in a modal (a reply, a closing message) is deleted too; the
  thread's other lines (claimed, sent) and staff's own typed messages stay.
- App Home is published again, without the case, for those it showed the case to.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.sandbox.slack_signing import event_callback, view_submission
from storage.cases import Case
from tests.harness import wait_for
from tests.line.test_intake_e2e import Citizen
from tests.personal_log import no_personal_data_in_log  # noqa: F401
from tests.slack.staff_desk import STAFF, STAFF_B, case_with_card, settled, staff_desk
from tests.slack.test_desk_e2e import Desk, submit_intake
from tests.slack.test_duplicate_card import two_cards

pytestmark = pytest.mark.usefixtures("no_personal_data_in_log")

NAME = "山田 花子"
FOLLOWUP = "定款の雛形もありますか？"
ANSWER = "山田様、設立には定款と役員名簿が必要です。"
DELETED = "相談者の依頼によりデータを削除しました"
DELETED_NOTE = "相談者の依頼により"


async def delete_data(desk: Desk, case: Case) -> None:
    """The citizen asks for their data to be deleted; wait until Slack has been told everything."""
    citizen = Citizen(desk.bot.base_url, desk.line)
    await citizen.type("削除")
    await citizen.type("はい")
    await settled(desk, case)
    await wait_for(lambda: any(DELETED_NOTE in t for t in desk.thread(case)))


async def ask_deletion(desk: Desk, citizen: Citizen, case: Case) -> None:
    """削除 → はい, and wait until the case is anonymised (what Slack is told may still be on its way)."""
    await citizen.type("削除")
    await citizen.type("はい")

    async def anonymised() -> bool:
        current = await desk.bot.db.read.cases.get(case.id)
        return current is not None and current.anonymised_at is not None

    await wait_for(anonymised)


def shown(message: object) -> str:
    return json.dumps(message, ensure_ascii=False)


async def answer_in_modal(desk: Desk, case: Case, text: str) -> None:
    assert (await desk.press(case, "case_reply"))[0] == 200
    opened = [v for v in desk.slack.views if v.action == "open"][-1]
    status, body = await desk.post(
        view_submission(STAFF, "case_reply_compose", {"reply": {"text": text}},
                        opened.view["private_metadata"], opened.view_id)
    )  # fmt: skip
    assert status == 200
    preview = json.loads(body)
    status, _ = await desk.post(
        view_submission(STAFF, "case_reply_confirm", {}, preview["view"]["private_metadata"], opened.view_id)
    )
    assert status == 200


async def test_every_copy_of_a_card_posted_twice_is_redrawn_without_the_data(tmp_path: Path) -> None:
    async with staff_desk(tmp_path, "staff-list") as desk:
        case, orphan = await two_cards(desk)
        await delete_data(desk, case)
        for ts in (case.slack_ts or "", orphan):
            card = shown(desk.slack.message("C_NPO", ts))
            assert DELETED in card and NAME not in card, ts
        # Found by its metadata in the history around the case's creation, nothing else touched.
        [call] = desk.slack.find_calls("conversations.history")
        assert call.params["channel"] == "C_NPO" and call.params["latest"] == case.slack_ts


async def test_a_card_posted_while_the_deletion_commits_is_redrawn_too(tmp_path: Path) -> None:
    """The card's answer is held until the deletion has committed: its row is cancelled meanwhile,
    so its ts is never recorded; a second card is posted without the data, and the first redrawn."""
    async with staff_desk(tmp_path, "staff-list") as desk:
        desk.slack.fail_next("held", method="chat.postMessage")
        await submit_intake(Citizen(desk.bot.base_url, desk.line))
        await wait_for(lambda: any(NAME in shown(m) for m in desk.slack.messages_in("C_NPO")))
        citizen = Citizen(desk.bot.base_url, desk.line)
        await citizen.type("削除")
        await citizen.type("はい")

        async def anonymised() -> bool:
            cases = await desk.bot.db.read.cases.with_status("closed")
            return bool(cases) and cases[0].anonymised_at is not None

        await wait_for(anonymised)
        desk.slack.release_held()
        [case] = await desk.bot.db.read.cases.with_status("closed")
        await settled(desk, case)
        cards = [m for m in desk.slack.messages_in("C_NPO") if m.get("blocks")]
        assert len(cards) == 2
        for card in cards:
            assert NAME not in shown(card) and DELETED in shown(card)


async def test_a_follow_up_posted_twice_leaves_no_copy(tmp_path: Path) -> None:
    async with staff_desk(tmp_path, "staff-list") as desk:
        case = await case_with_card(desk)
        await settled(desk, case)
        desk.slack.fail_next("lost_response", method="chat.postMessage")
        await Citizen(desk.bot.base_url, desk.line).type(FOLLOWUP)
        await wait_for(lambda: sum(FOLLOWUP in t for t in desk.thread(case)) == 2)
        await settled(desk, case)
        await delete_data(desk, case)
        assert [t for t in desk.thread(case) if FOLLOWUP in t] == []


async def test_a_follow_up_in_flight_when_the_deletion_commits_is_deleted(tmp_path: Path) -> None:
    """Its row is cancelled by the deletion while Slack holds the answer: the post's ts is never
    recorded, and it is still deleted."""
    async with staff_desk(tmp_path, "staff-list") as desk:
        case = await case_with_card(desk)
        await settled(desk, case)
        desk.slack.fail_next("held", method="chat.postMessage")
        citizen = Citizen(desk.bot.base_url, desk.line)
        await citizen.type(FOLLOWUP)
        await wait_for(lambda: any(FOLLOWUP in t for t in desk.thread(case)))
        await ask_deletion(desk, citizen, case)
        desk.slack.release_held()
        await settled(desk, case)
        await wait_for(lambda: any(DELETED_NOTE in t for t in desk.thread(case)))
        assert [t for t in desk.thread(case) if FOLLOWUP in t] == []


async def test_the_bots_copy_of_a_modal_answer_is_deleted_and_the_other_lines_stay(tmp_path: Path) -> None:
    async with staff_desk(tmp_path, "channel-members") as desk:
        case = await case_with_card(desk)
        assert (await desk.press(case, "case_claim"))[0] == 200
        await answer_in_modal(desk, case, ANSWER)
        await wait_for(lambda: any(ANSWER in t for t in desk.thread(case)))
        await wait_for(lambda: "✅ 相談者に送信しました。" in desk.thread(case))
        # Staff's own words typed in the thread: the bot cannot delete them (docs/privacy.md).
        typed = desk.slack.add_user_message("C_NPO", STAFF, "電話でも確認します。", thread_ts=case.slack_ts)
        await delete_data(desk, case)
        thread = desk.thread(case)
        assert [t for t in thread if ANSWER in t] == []
        assert f"<@{STAFF}> さんが担当になりました。" in thread
        assert "✅ 相談者に送信しました。" in thread
        assert desk.slack.message("C_NPO", str(typed["ts"])) is not None


async def test_the_bots_copy_of_a_closing_message_is_deleted(tmp_path: Path) -> None:
    async with staff_desk(tmp_path, "channel-members") as desk:
        case = await case_with_card(desk)
        assert (await desk.press(case, "case_close"))[0] == 200
        opened = [v for v in desk.slack.views if v.action == "open"][-1]
        body = view_submission(
            STAFF, "case_close_submit", {"message": {"text": ANSWER}},
            opened.view["private_metadata"], opened.view_id,
        )  # fmt: skip
        assert (await desk.post(body))[0] == 200
        await wait_for(lambda: any(ANSWER in t for t in desk.thread(case)))
        await delete_data(desk, case)
        assert [t for t in desk.thread(case) if ANSWER in t] == []
        assert f"<@{STAFF}> さんが対応完了にしました。" in desk.thread(case)


async def open_home(desk: Desk, user: str) -> None:
    opened = event_callback({"type": "app_home_opened", "user": user, "channel": "D1", "tab": "home"})
    assert (await desk.post(opened))[0] == 200


async def test_app_home_is_published_again_for_those_it_showed_the_case_to(tmp_path: Path) -> None:
    async with staff_desk(tmp_path, "channel-members") as desk:
        case = await case_with_card(desk)
        await open_home(desk, STAFF)
        assert NAME in shown(desk.slack.home_views[STAFF])
        await delete_data(desk, case)
        assert NAME not in shown(desk.slack.home_views[STAFF])
        assert case.number not in shown(desk.slack.home_views[STAFF])  # closed: off the lists
        # Someone who never opened Home gets none published.
        assert STAFF_B not in desk.slack.home_views


async def test_a_workspace_that_refuses_the_search_still_loses_the_recorded_posts(tmp_path: Path) -> None:
    """Slack's reference says a bot token may not read a channel's threads; if the workspace refuses
    the searches, the posts whose ts was recorded are still deleted and the card redrawn."""
    async with staff_desk(tmp_path, "staff-list") as desk:
        case = await case_with_card(desk)
        await settled(desk, case)
        await Citizen(desk.bot.base_url, desk.line).type(FOLLOWUP)
        await wait_for(lambda: any(FOLLOWUP in t for t in desk.thread(case)))
        await settled(desk, case)
        desk.slack.fail_next("error:not_allowed_token_type", method="conversations.replies")
        desk.slack.fail_next("error:not_allowed_token_type", method="conversations.history")
        await delete_data(desk, case)
        assert [t for t in desk.thread(case) if FOLLOWUP in t] == []
        card = shown(desk.slack.message("C_NPO", case.slack_ts or ""))
        assert DELETED in card and NAME not in card
        assert desk.slack.find_calls("conversations.replies")
