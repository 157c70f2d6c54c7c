"""Reading a case while the citizen's deletion commits: `/madoguchi case N` and the 返信 / 対応完了
buttons check staff before they show anything (the membership look-up can take seconds). What they
show is the case as it stands after that check: a deletion committed meanwhile wins, and nothing of
the erased case (name, furigana, consultation) is shown or audited as viewed (review 46, D2).

Slack here answers conversations.members only when the test lets it (tests/slack/test_deletion_race.py).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.sandbox.slack_signing import slash_command
from tests.personal_log import no_personal_data_in_log  # noqa: F401
from tests.slack.test_deletion_race import (
    ANONYMISED,
    STAFF,
    Clock,
    delete_during_the_check,
    nothing_kept,
    racing_desk,
)
from tests.slack.test_desk_e2e import card_posted, submit_intake
from tests.slack.test_privacy import said

pytestmark = pytest.mark.usefixtures("no_personal_data_in_log")

CONSULTATION = "NPO法人の設立手続き"


async def test_case_command_answered_during_a_deletion_shows_nothing_of_the_case(tmp_path: Path) -> None:
    async with racing_desk(tmp_path, Clock()) as (desk, slack, citizen):
        await submit_intake(citizen)
        case = await card_posted(desk)
        slack.gate = asyncio.Event()
        asking = desk.post(slash_command("/madoguchi", f"case {case.number}", STAFF, "C_NPO"))
        status, answer = await delete_during_the_check(slack, citizen, asyncio.create_task(asking))
        assert status == 200
        assert said(answer) == ANONYMISED
        # Not audited as viewed either: the deletion is the case's last entry.
        await nothing_kept(desk, case, CONSULTATION)


@pytest.mark.parametrize("action_id", ["case_reply", "case_close"])
async def test_a_modal_opened_during_a_deletion_is_refused(tmp_path: Path, action_id: str) -> None:
    async with racing_desk(tmp_path, Clock()) as (desk, slack, citizen):
        await submit_intake(citizen)
        case = await card_posted(desk)
        slack.gate = asyncio.Event()
        pressing = asyncio.create_task(desk.press(case, action_id))
        assert (await delete_during_the_check(slack, citizen, pressing))[0] == 200

        # No modal (it would carry the number and the name): the staff member is told why instead.
        assert [v for v in slack.views if v.action == "open"] == []
        assert [e["text"] for e in slack.ephemerals if e["to_user"] == STAFF] == [ANONYMISED]
        await nothing_kept(desk, case, CONSULTATION)
