"""App Home published again after deletions: once per viewer however many cases are erased
(review 47 D3), and a Home drawn while a deletion commits is not left showing the case (review 46 D1)."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timedelta
from pathlib import Path

from slack_sdk.web.async_client import AsyncWebClient

from bot.citizen import queue_anonymised, queue_case_row
from bot.delivery import RetryPolicy
from bot.outbox_worker import OutboxWorker
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.slack_signing import event_callback
from bot.slack.home_page import SURFACE
from bot.slack.sender import SlackSender
from flows.texts import Texts
from storage import Database
from storage.cases import NewCase
from storage.outbox_rows import HomeRefresh
from tests.conftest import NOW
from tests.harness import settings_for, wait_for
from tests.line.test_intake_e2e import Citizen
from tests.slack.staff_desk import STAFF, case_with_card, settled, staff_desk

CASES = 20
VIEWER = "U_STAFF"
NAME = "山田 花子"


async def _deliver(db: Database, slack: FakeSlack, tmp_path: Path, line: FakeLine) -> None:
    """Run the Slack outbox until nothing is left to send."""
    settings = settings_for(tmp_path, line.base_url)
    client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)
    started = time.monotonic()

    def clock() -> datetime:  # moves, so that a retry comes due
        return NOW + timedelta(seconds=time.monotonic() - started)

    sender = SlackSender(client, db, settings, Texts.load(), clock=clock)
    worker = OutboxWorker(db, clock, {"slack": sender}, RetryPolicy(max_attempts=3, base_delay=0.01))
    worker.start()
    try:

        async def drained() -> bool:
            return not await db.read.outbox.due(NOW + timedelta(days=1), ["slack"])

        await wait_for(drained)
    finally:
        await worker.stop()


async def test_many_cases_erased_publish_each_viewer_once(
    tmp_path: Path, db: Database, line: FakeLine
) -> None:
    settings = settings_for(tmp_path, line.base_url)
    async with db.transaction() as tx:
        for i in range(CASES):
            case = await tx.cases.create(
                NewCase(None, "general", "個人", f"利用者 {i}", "line", f"相談 {i}"), NOW, NOW.year
            )
            await tx.audit.record(
                f"slack:{VIEWER}", "case.viewed", "case", case.id, NOW, {"surface": SURFACE}
            )
            await tx.audit.record(
                "slack:U_OTHER", "case.viewed", "case", case.id, NOW, {"surface": "command"}
            )
    for case_id in range(1, CASES + 1):  # retention: one transaction per case
        async with db.transaction() as tx:
            await tx.cases.anonymise(case_id, NOW, "retention")
            erased = await tx.cases.get(case_id)
            assert erased is not None
            await queue_anonymised(tx, settings, erased, NOW)
    async with FakeSlack() as slack:
        await _deliver(db, slack, tmp_path, line)
        publishes = [str(v.user_id) for v in slack.views if v.action == "publish"]
    # One publish draws the whole Home, so one is enough; the second row waited behind the first.
    assert publishes == [VIEWER]
    # Someone who saw a case elsewhere (a command) has no Home to take it off.
    assert "U_OTHER" not in publishes


async def test_a_refresh_queued_per_case_before_is_published_per_viewer(
    tmp_path: Path, db: Database, line: FakeLine
) -> None:
    """A row left pending by the version that queued one refresh per case is still handled."""
    settings = settings_for(tmp_path, line.base_url)
    async with db.transaction() as tx:
        for _ in range(2):
            case = await tx.cases.create(
                NewCase(None, "general", "個人", "利用者", "line", "相談"), NOW, NOW.year
            )
            for viewer in (VIEWER, "U_TWO"):
                await tx.audit.record(
                    f"slack:{viewer}", "case.viewed", "case", case.id, NOW, {"surface": SURFACE}
                )
            await queue_case_row(tx, settings, case, HomeRefresh(case_id=case.id), NOW)
    async with FakeSlack() as slack:
        await _deliver(db, slack, tmp_path, line)
        publishes = sorted(str(v.user_id) for v in slack.views if v.action == "publish")
    assert publishes == sorted([VIEWER, "U_TWO"])


async def test_home_drawn_during_deletion_is_not_left_showing_the_case(tmp_path: Path) -> None:
    async with staff_desk(tmp_path, "channel-members") as desk:
        case = await case_with_card(desk)
        before = len(desk.slack.find_calls("conversations.members"))
        # The desk's membership look-up (inside the 3 s, may take seconds) is slow this time.
        desk.slack.fail_next("held", method="conversations.members")
        opened = event_callback({"type": "app_home_opened", "user": STAFF, "channel": "D1", "tab": "home"})
        opening = asyncio.create_task(desk.post(opened))
        await wait_for(lambda: len(desk.slack.find_calls("conversations.members")) > before)
        # Meanwhile the citizen asks for deletion; everything Slack is told about it is done.
        citizen = Citizen(desk.bot.base_url, desk.line)
        await citizen.type("削除")
        await citizen.type("はい")

        async def anonymised() -> bool:
            current = await desk.bot.db.read.cases.get(case.id)
            return current is not None and current.anonymised_at is not None

        await wait_for(anonymised)
        await settled(desk, case)
        desk.slack.release_held()
        assert (await opening)[0] == 200
        home = json.dumps(desk.slack.home_views[STAFF], ensure_ascii=False)
        assert NAME not in home
        # The erased case is not recorded as viewed after its deletion.
        entries = await desk.bot.db.read.audit.for_subject("case", case.id)
        deleted_at = next(e.id for e in entries if e.action == "case.anonymised")
        assert not [e for e in entries if e.action == "case.viewed" and e.id > deleted_at]


async def test_a_rate_limited_publish_retries_that_viewer_only(
    tmp_path: Path, db: Database, line: FakeLine
) -> None:
    settings = settings_for(tmp_path, line.base_url)
    viewers = ["U_A", "U_B", "U_C"]
    async with db.transaction() as tx:
        case = await tx.cases.create(
            NewCase(None, "general", "個人", "利用者", "line", "相談"), NOW, NOW.year
        )
        for viewer in viewers:
            await tx.audit.record(
                f"slack:{viewer}", "case.viewed", "case", case.id, NOW, {"surface": SURFACE}
            )
        await tx.cases.anonymise(case.id, NOW, "retention")
        erased = await tx.cases.get(case.id)
        assert erased is not None
        await queue_anonymised(tx, settings, erased, NOW)
    async with FakeSlack() as slack:
        slack.retry_after = 0
        # Slack rate-limits the calls after the first publish has been carried out.
        slack.fail_next("held", method="views.publish")
        delivering = asyncio.create_task(_deliver(db, slack, tmp_path, line))
        await wait_for(lambda: len(slack.find_calls("views.publish")) >= 1)
        slack.fail_next(429, method="views.publish")
        slack.release_held()
        await delivering
        publishes = [str(v.user_id) for v in slack.views if v.action == "publish"]
        tries = len(slack.find_calls("views.publish"))
    # Each viewer's Home is published once: the 429 is retried for its viewer alone.
    assert sorted(publishes) == viewers
    assert tries <= len(viewers) + 1
