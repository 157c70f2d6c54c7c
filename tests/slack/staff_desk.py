"""A running bot with a fake LINE and a fake Slack where several people are staff, for the desk's
hostile-input tests: staff are either the members of the case's channel or a configured list."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.fake_slack import FakeSlack
from storage.cases import Case
from tests.harness import settings_for, wait_for
from tests.line.test_intake_e2e import USER, Citizen
from tests.slack.test_desk_e2e import CATEGORIES, Desk, card_posted, submit_intake

STAFF = "U_STAFF"
STAFF_B = "U_STAFF_B"
STRANGER = "U_STRANGER"
MODES = ["channel-members", "staff-list"]


@asynccontextmanager
async def staff_desk(
    tmp_path: Path, mode: str, staff: tuple[str, ...] = (STAFF, STAFF_B), extra: str = ""
) -> AsyncIterator[Desk]:
    """`staff` may act. With a staff list, the stranger is in the case's channel too (so only the list
    makes the difference); with channel membership, the stranger is in no case channel."""
    async with FakeLine(access_token="test-access-token") as line, FakeSlack() as slack:
        line.set_profile(USER, "山田 花子")
        staff_list = staff if mode == "staff-list" else ()
        members = [*staff, STRANGER] if staff_list else list(staff)
        slack.set_members("C_NPO", members)
        slack.set_members("C_DEFAULT", members)
        settings = settings_for(
            tmp_path, line.base_url, CATEGORIES + extra, slack_api_url=slack.api_url, slack_staff=staff_list
        )
        async with Runtime(settings) as bot:
            yield Desk(bot, line, slack)


async def case_with_card(desk: Desk) -> Case:
    await submit_intake(Citizen(desk.bot.base_url, desk.line))
    return await card_posted(desk)


async def settled(desk: Desk, case: Case) -> None:
    """Wait until nothing of this case is waiting in the outbox."""

    async def idle() -> bool:
        rows = await desk.bot.db.read.outbox.in_order(f"slack:case:{case.id}")
        return all(r.status != "pending" for r in rows)

    await wait_for(idle)
