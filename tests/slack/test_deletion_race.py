"""A staff act racing the citizen's deletion: staff are checked before the act's transaction (the
membership look-up can take seconds), and a deletion that commits in between must still win. The act
is refused with the words for any act on a deleted case, and nothing staff wrote is stored in the
erased case (an answer, a note, a reply draft); a closed case is not reopened.

Slack here answers conversations.members only when the test lets it (a slow Slack): the fake's timing
is all that changes; the deletion is the citizen's own, typed on LINE.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web

from bot.clock import utc_now
from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.slack_signing import block_action, event_callback, message_event, view_submission
from storage.cases import Case
from tests.harness import settings_for
from tests.line.test_intake_e2e import USER, Citizen
from tests.personal_log import no_personal_data_in_log  # noqa: F401
from tests.slack.test_desk_e2e import CATEGORIES, Desk, card_posted, submit_intake
from tests.test_retention import file_bytes

pytestmark = pytest.mark.usefixtures("no_personal_data_in_log")

STAFF = "U_STAFF"
ANONYMISED = "この相談の個人データは削除されているため、操作できません。"
ANSWER = "山田様、来週の面談は5日です。"


class SlowMembers(FakeSlack):
    """A Slack that answers conversations.members only once `gate` is set, while a gate is held."""

    def __init__(self) -> None:
        super().__init__()
        self.gate: asyncio.Event | None = None
        self.arrived = asyncio.Event()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.path.endswith("/conversations.members") and self.gate is not None:
            self.arrived.set()
            await self.gate.wait()
        return await super()._handle(request)


class Clock:
    """The wall clock, moved ahead on demand (past the membership cache's lifetime)."""

    def __init__(self) -> None:
        self.ahead = timedelta()

    def __call__(self) -> datetime:
        return utc_now() + self.ahead


@asynccontextmanager
async def racing_desk(tmp_path: Path, clock: Clock) -> AsyncIterator[tuple[Desk, SlowMembers, Citizen]]:
    """Staff are the members of the case's channel, so every act begins with a look-up."""
    async with FakeLine(access_token="test-access-token") as line, SlowMembers() as slack:
        line.set_profile(USER, "山田 花子")
        slack.set_members("C_NPO", [STAFF])
        slack.set_members("C_DEFAULT", [STAFF])
        settings = settings_for(tmp_path, line.base_url, CATEGORIES, slack_api_url=slack.api_url)
        async with Runtime(settings, clock) as bot:
            yield Desk(bot, line, slack), slack, Citizen(bot.base_url, line, bot)


async def delete_during_the_check(
    slack: SlowMembers, citizen: Citizen, request: asyncio.Task[tuple[int, str]]
) -> tuple[int, str]:
    """Hold Slack's membership answer until the citizen's deletion has committed, then let `request` on."""
    await asyncio.wait_for(slack.arrived.wait(), 10)
    await citizen.type("個人情報を削除してください")
    await citizen.type("はい")
    assert slack.gate is not None
    slack.gate.set()
    return await request


async def nothing_kept(desk: Desk, case: Case, text: str) -> None:
    stored = await desk.bot.db.read.cases.get(case.id)
    assert stored is not None and stored.anonymised_at is not None and stored.status == "closed"
    assert all(m.body == "" for m in await desk.bot.db.read.cases.messages(case.id))
    assert text.encode() not in file_bytes(desk.bot.db.path)
    audit = [e.action for e in await desk.bot.db.read.audit.for_subject("case", case.id)]
    assert audit[-1] == "case.anonymised", audit


@pytest.mark.parametrize("text", [f"返信:{ANSWER}", ANSWER], ids=["answer", "note"])
async def test_a_thread_message_racing_a_deletion_is_refused(tmp_path: Path, text: str) -> None:
    async with racing_desk(tmp_path, Clock()) as (desk, slack, citizen):
        await submit_intake(citizen)
        case = await card_posted(desk)
        slack.gate = asyncio.Event()
        message = event_callback(message_event("C_NPO", STAFF, text, thread_ts=case.slack_ts))
        posting = asyncio.create_task(desk.post(message))
        assert (await delete_during_the_check(slack, citizen, posting))[0] == 200

        await nothing_kept(desk, case, ANSWER)
        told = [e for e in slack.ephemerals if e["to_user"] == STAFF]
        assert [e["text"] for e in told] == [ANONYMISED]
        assert slack.find_calls("reactions.add") == []  # not marked as a note either
        assert all(ANSWER not in str(m.message) for m in desk.line.sent_messages(USER))


async def test_a_reopen_racing_a_deletion_leaves_the_case_closed(tmp_path: Path) -> None:
    clock = Clock()
    async with racing_desk(tmp_path, clock) as (desk, slack, citizen):
        await submit_intake(citizen)
        case = await card_posted(desk)
        assert (await desk.press(case, "case_close"))[0] == 200
        opened = [v for v in slack.views if v.action == "open"][-1]
        close = view_submission(
            STAFF,
            "case_close_submit",
            {"message": {"text": ""}},
            opened.view["private_metadata"],
            opened.view_id,
        )
        assert (await desk.post(close))[0] == 200
        assert (await desk.case()).status == "closed"

        clock.ahead = timedelta(minutes=1)  # the membership cache has run out: the next act looks up
        slack.gate = asyncio.Event()
        press = block_action(STAFF, "case_reopen", str(case.id), "C_NPO", case.slack_ts)
        assert (await delete_during_the_check(slack, citizen, asyncio.create_task(desk.post(press))))[
            0
        ] == 200

        await nothing_kept(desk, case, "NPO法人の設立手続き")
        assert await desk.bot.db.read.cases.count_open() == 0
        assert [e["text"] for e in slack.ephemerals if e["to_user"] == STAFF] == [ANONYMISED]


async def test_a_reply_draft_racing_a_deletion_is_not_kept(tmp_path: Path) -> None:
    clock = Clock()
    async with racing_desk(tmp_path, clock) as (desk, slack, citizen):
        await submit_intake(citizen)
        case = await card_posted(desk)
        view_id = await open_reply_modal(desk, case)

        clock.ahead = timedelta(minutes=1)
        slack.gate = asyncio.Event()
        metadata = slack.open_views[view_id]["private_metadata"]
        compose = view_submission(STAFF, "case_reply_compose", {"reply": {"text": ANSWER}}, metadata, view_id)
        status, answer = await delete_during_the_check(
            slack, citizen, asyncio.create_task(desk.post(compose))
        )
        assert status == 200

        # The modal says why, where the staff member is looking; no preview, no draft.
        assert slack.answer_view_submission(view_id, answer) == {"ok": True, "errors": {"reply": ANONYMISED}}
        assert await desk.bot.db.read.reply_drafts.get(1) is None
        await nothing_kept(desk, case, ANSWER)


async def open_reply_modal(desk: Desk, case: Case) -> str:
    assert (await desk.press(case, "case_reply"))[0] == 200
    opened = [v for v in desk.slack.views if v.action == "open"][-1]
    assert opened.view["callback_id"] == "case_reply_compose"
    return opened.view_id
