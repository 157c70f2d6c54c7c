"""Opening a modal or publishing App Home is best effort. Slack refuses a trigger id older than 3 s
(expired_trigger_id: a staff look-up can take longer), and it may answer 5xx, invalid_auth, or drop the
connection. Nothing was done yet, so a 500 would only make Slack retry with the same dead trigger and log
an error-level traceback. Instead the request is answered 200, the failure is logged by kind at warning
level, and the staff member is told privately where there is a channel to say it in. A command's answer
says it. App Home has nowhere to say it, and a retried app_home_opened is audited (and shown) once.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.sandbox.fake_slack import FailMode
from bot.sandbox.slack_signing import block_action, event_callback, slash_command
from tests.harness import captured_log
from tests.slack.staff_desk import STAFF, case_with_card, settled, staff_desk
from tests.slack.test_desk_e2e import Desk

OPEN_FAILED = "画面を開けませんでした。もう一度お試しください。"
FAILURES: list[tuple[FailMode, str]] = [
    ("error:expired_trigger_id", "expired_trigger_id"),
    (500, "fatal_error"),
    ("error:invalid_auth", "invalid_auth"),
    ("drop", "ServerDisconnectedError"),
]


def told(desk: Desk) -> list[str]:
    return [str(e["text"]) for e in desk.slack.ephemerals if e["to_user"] == STAFF]


def opened(desk: Desk) -> int:
    return len([v for v in desk.slack.views if v.action == "open"])


@pytest.mark.parametrize(("failure", "kind"), FAILURES)
@pytest.mark.parametrize("action", ["case_reply", "case_close"])
async def test_a_card_button_whose_modal_cannot_open(
    tmp_path: Path, action: str, failure: FailMode, kind: str
) -> None:
    async with staff_desk(tmp_path, "staff-list") as desk:
        case = await case_with_card(desk)
        await settled(desk, case)
        desk.slack.fail_next(failure, method="views.open")
        with captured_log("山田") as log:
            status, _ = await desk.press(case, action)
        assert status == 200
        assert opened(desk) == 0
        assert told(desk) == [OPEN_FAILED]
        assert f"level=warning logger=madoguchi.slack event=slack.view_open_failed error={kind}" in log.text
        log.assert_clean()
        # Pressed again (a fresh trigger id), the modal opens.
        assert (await desk.press(case, action))[0] == 200
        assert opened(desk) == 1


@pytest.mark.parametrize("words", ["event", "notice"])
async def test_a_command_whose_modal_cannot_open_says_so_in_its_answer(tmp_path: Path, words: str) -> None:
    async with staff_desk(tmp_path, "staff-list") as desk:
        desk.slack.fail_next("error:expired_trigger_id", method="views.open")
        trigger = desk.slack.issue_trigger_id(STAFF)
        with captured_log("山田") as log:
            status, body = await desk.post(slash_command("/madoguchi", words, STAFF, "C_NPO", trigger))
        assert status == 200
        assert OPEN_FAILED in body
        assert opened(desk) == 0
        assert "event=slack.view_open_failed error=expired_trigger_id" in log.text
        log.assert_clean()


@pytest.mark.parametrize("action", ["event_create", "event_edit", "event_announce", "notice_edit"])
async def test_an_event_or_notice_button_whose_modal_cannot_open(tmp_path: Path, action: str) -> None:
    async with staff_desk(tmp_path, "staff-list") as desk:
        desk.slack.fail_next(500, method="views.open")
        trigger = desk.slack.issue_trigger_id(STAFF)
        with captured_log("山田") as log:
            status, _ = await desk.post(block_action(STAFF, action, "1", "C_DEFAULT", trigger_id=trigger))
        assert status == 200
        assert told(desk) == [OPEN_FAILED]
        assert [e["channel"] for e in desk.slack.ephemerals] == ["C_DEFAULT"]
        assert "event=slack.view_open_failed error=fatal_error" in log.text
        log.assert_clean()


async def test_an_app_home_button_whose_modal_cannot_open_is_logged_only(tmp_path: Path) -> None:
    async with staff_desk(tmp_path, "staff-list") as desk:
        home = {"id": "V_HOME", "type": "home", "blocks": []}
        desk.slack.fail_next("error:expired_trigger_id", method="views.open")
        trigger = desk.slack.issue_trigger_id(STAFF)
        with captured_log("山田") as log:
            status, _ = await desk.post(
                block_action(STAFF, "event_create", "new", trigger_id=trigger, view=home)
            )
        assert status == 200
        assert desk.slack.ephemerals == []  # App Home has no channel to say it in
        assert "event=slack.view_open_failed error=expired_trigger_id" in log.text
        log.assert_clean()


async def test_app_home_that_cannot_be_published_is_answered_200_and_audited_once(tmp_path: Path) -> None:
    async with staff_desk(tmp_path, "staff-list") as desk:
        case = await case_with_card(desk)
        await settled(desk, case)
        opening = event_callback({"type": "app_home_opened", "user": STAFF, "channel": "D1", "tab": "home"})
        desk.slack.fail_next(500, method="views.publish")
        with captured_log("山田") as log:
            # Slack retries what it thinks was not answered in time: the same event id again.
            statuses = [(await desk.post(opening, retry_num=n))[0] for n in (None, 1, 2)]
        assert statuses == [200, 200, 200]
        audit = await desk.bot.db.read.audit.for_subject("case", case.id)
        assert [e.action for e in audit].count("case.viewed") == 1
        assert (
            "level=warning logger=madoguchi.slack event=slack.home_publish_failed error=fatal_error"
            in log.text
        )
        assert "event=slack.duplicate" in log.text
        log.assert_clean()
        assert STAFF not in desk.slack.home_views  # the retries did not publish either

        # The next opening (a new event) is audited and shown.
        again = event_callback({"type": "app_home_opened", "user": STAFF, "channel": "D1", "tab": "home"})
        assert (await desk.post(again))[0] == 200
        audit = await desk.bot.db.read.audit.for_subject("case", case.id)
        assert [e.action for e in audit].count("case.viewed") == 2
        assert case.number in json.dumps(desk.slack.home_views[STAFF], ensure_ascii=False)
