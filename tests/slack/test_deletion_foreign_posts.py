"""Deletion finds the copies of our posts in Slack by their message metadata (docs/slack.md), but anyone
can put the same metadata on a post: another app, a second madoguchi (staging, demo) in the channel
whose case numbers overlap ours, a person's own token. Slack refuses our bot any change to those
(cant_delete_message, cant_update_message), so only the bot's own posts (its bot_id, from auth.test)
are taken for copies, and a copy Slack still refuses is nothing to do for that copy, never a failure
of the whole deletion that would leave the copies after it (review 41, D4). A search stopped at its
page limit is logged with the case id.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from bot.slack.sender import CARD_EVENT, HISTORY_PAGE, MAX_PAGES, WORDS_EVENT
from storage.cases import Case
from tests.harness import wait_for
from tests.line.test_intake_e2e import Citizen
from tests.personal_log import no_personal_data_in_log  # noqa: F401
from tests.slack.staff_desk import STAFF, case_with_card, settled, staff_desk
from tests.slack.test_deletion_slack_copies import (
    DELETED,
    DELETED_NOTE,
    FOLLOWUP,
    NAME,
    ask_deletion,
    delete_data,
)
from tests.slack.test_desk_e2e import Desk
from tests.slack.test_duplicate_card import two_cards

pytestmark = pytest.mark.usefixtures("no_personal_data_in_log")

SENDER_LOGGER = "madoguchi.slack.sender"
OTHER_APP = {"user": "U_OTHER_BOT", "bot_id": "B_OTHER", "app_id": "A_OTHER"}


def tag(event: str, case_id: int) -> dict[str, Any]:
    return {"event_type": event, "event_payload": {"case_id": case_id}}


def foreign_post(desk: Desk, author: str, case: Case) -> dict[str, Any]:
    """A post in the case's thread, by someone other than our bot, carrying our tag for the case."""
    if author == "another app":
        return desk.slack.add_app_message(
            "C_NPO", "別のアプリの投稿", case.slack_ts, metadata=tag(WORDS_EVENT, case.id), **OTHER_APP
        )
    # A person's own token (a script, a workflow) may post with metadata too.
    post = desk.slack.add_user_message("C_NPO", STAFF, "自分のトークンで投稿", case.slack_ts)
    post["metadata"] = tag(WORDS_EVENT, case.id)
    return post


async def not_sent(desk: Desk, case: Case) -> list[tuple[str, str | None]]:
    """The case's Slack rows neither sent nor cancelled (a post in flight is, by the deletion)."""
    rows = await desk.bot.db.read.outbox.in_order(f"slack:case:{case.id}")
    return [(r.status, r.last_error) for r in rows if r.status not in ("sent", "cancelled")]


@pytest.mark.parametrize("author", ["another app", "a person"])
async def test_a_post_by_someone_else_with_our_tag_is_left_and_our_copies_deleted(
    tmp_path: Path, author: str
) -> None:
    async with staff_desk(tmp_path, "staff-list") as desk:
        case = await case_with_card(desk)
        await settled(desk, case)
        foreign = foreign_post(desk, author, case)
        # The follow-up posted twice (the first answer lost): one copy's ts is never recorded.
        desk.slack.fail_next("lost_response", method="chat.postMessage")
        await Citizen(desk.bot.base_url, desk.line).type(FOLLOWUP)
        await wait_for(lambda: sum(FOLLOWUP in t for t in desk.thread(case)) == 2)
        await settled(desk, case)
        await delete_data(desk, case)
        assert [t for t in desk.thread(case) if FOLLOWUP in t] == []
        assert await not_sent(desk, case) == []
        # Not ours: never even tried.
        assert desk.slack.message("C_NPO", str(foreign["ts"])) is not None
        assert [c for c in desk.slack.find_calls("chat.delete") if c.params.get("ts") == foreign["ts"]] == []


async def test_another_apps_card_with_our_tag_is_left_and_our_copies_redrawn(tmp_path: Path) -> None:
    """A second madoguchi's card for its case 1, posted in the same channel just before ours."""
    async with staff_desk(tmp_path, "staff-list") as desk:
        foreign = desk.slack.add_app_message(
            "C_NPO", "別の窓口のカード", metadata=tag(CARD_EVENT, 1), **OTHER_APP
        )
        case, orphan = await two_cards(desk)
        assert case.id == 1  # the same number as the other app's card
        await delete_data(desk, case)
        for ts in (case.slack_ts or "", orphan):
            card = json.dumps(desk.slack.message("C_NPO", ts), ensure_ascii=False)
            assert DELETED in card and NAME not in card, ts
        assert await not_sent(desk, case) == []
        assert desk.slack.message("C_NPO", str(foreign["ts"])) == foreign
        assert [c for c in desk.slack.find_calls("chat.update") if c.params.get("ts") == foreign["ts"]] == []


async def test_a_copy_slack_refuses_to_delete_does_not_stop_the_others(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Two copies of a follow-up, neither recorded: the first post's answer was lost, and the second
    one's was held until the deletion had cancelled its row. Slack refuses to delete the first; the
    second is still deleted, and the deletion goes on."""
    async with staff_desk(tmp_path, "staff-list") as desk:
        case = await case_with_card(desk)
        await settled(desk, case)
        desk.slack.fail_next("lost_response", "held", method="chat.postMessage")
        citizen = Citizen(desk.bot.base_url, desk.line)
        await citizen.type(FOLLOWUP)
        await wait_for(lambda: sum(FOLLOWUP in t for t in desk.thread(case)) == 2)
        first, second = [m for m in desk.slack.thread("C_NPO", case.slack_ts or "") if FOLLOWUP in m["text"]]
        await ask_deletion(desk, citizen, case)
        desk.slack.fail_next("error:cant_delete_message", method="chat.delete")
        desk.slack.release_held()
        await settled(desk, case)
        await wait_for(lambda: any(DELETED_NOTE in t for t in desk.thread(case)))
        assert [c.params["ts"] for c in desk.slack.find_calls("chat.delete")] == [first["ts"], second["ts"]]
        assert desk.slack.message("C_NPO", str(second["ts"])) is None
        assert await not_sent(desk, case) == []
        refused = [r for r in caplog.records if r.getMessage() == "slack.copy_refused"]
        assert [getattr(r, "fields", None) for r in refused] == [
            {"case_id": case.id, "method": "chat.delete", "error": "cant_delete_message"}
        ]


async def test_a_search_stopped_at_its_page_limit_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A thread longer than the search reads (MAX_PAGES pages): the copies read are deleted, and the
    log says, with the case id alone, that the thread was not read to its end."""
    async with staff_desk(tmp_path, "staff-list") as desk:
        case = await case_with_card(desk)
        await settled(desk, case)
        await Citizen(desk.bot.base_url, desk.line).type(FOLLOWUP)
        await wait_for(lambda: any(FOLLOWUP in t for t in desk.thread(case)))
        await settled(desk, case)
        for _ in range(MAX_PAGES * HISTORY_PAGE):
            desk.slack.add_user_message("C_NPO", STAFF, "了解です。", case.slack_ts)
        with caplog.at_level(logging.WARNING, logger=SENDER_LOGGER):
            await delete_data(desk, case)
        assert [t for t in desk.thread(case) if FOLLOWUP in t] == []
        assert len(desk.slack.find_calls("conversations.replies")) == MAX_PAGES
        cut = [r for r in caplog.records if r.getMessage() == "slack.copies_search_truncated"]
        assert [getattr(r, "fields", None) for r in cut] == [
            {"case_id": case.id, "method": "conversations.replies"}
        ]
