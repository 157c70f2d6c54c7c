"""Handled events leave the inbox after `[privacy] purge_undelivered_after_days`: LINE webhooks and
the Slack actions recorded on arrival (button presses, App Home openings) alike. Their rows are there
to deduplicate retries and redeliveries, which come within minutes or hours, not to be kept."""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.retention import RetentionSweeper
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.slack_signing import event_callback
from storage import Database
from storage.inbox import IncomingEvent
from storage.timefmt import from_db
from tests.conftest import NOW
from tests.harness import settings_for, wait_for
from tests.slack.staff_desk import STAFF, case_with_card, staff_desk

Row = tuple[int, str, str, str, str]  # id, source, event_id, order_key, status


def inbox_rows(path: Path) -> list[Row]:
    """The inbox as another connection reads it from the file."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT id, source, event_id, order_key, status FROM inbox ORDER BY id"
        ).fetchall()
    finally:
        conn.close()


def received(path: Path) -> tuple[datetime, datetime]:
    """When the first and the last stored event were received."""
    conn = sqlite3.connect(path)
    try:
        first, last = conn.execute("SELECT min(received_at), max(received_at) FROM inbox").fetchone()
    finally:
        conn.close()
    return from_db(first), from_db(last)


async def test_handled_webhooks_and_slack_actions_are_deleted_after_the_period(tmp_path: Path) -> None:
    async with staff_desk(tmp_path, "staff-list") as desk:
        case = await case_with_card(desk)  # the citizen's LINE messages: webhook rows
        assert (await desk.press(case, "case_claim"))[0] == 200  # a button press
        opened = event_callback({"type": "app_home_opened", "user": STAFF, "channel": "D1", "tab": "home"})
        assert (await desk.post(opened))[0] == 200  # an App Home opening

        async def all_handled() -> bool:
            return await desk.bot.db.read.inbox.count("pending") == 0

        await wait_for(all_handled)
        path, settings = desk.bot.db.path, desk.bot.settings
        before = inbox_rows(path)
        keys = {row[3] for row in before}
        assert {f"slack:case:{case.id}", f"slack:{STAFF}"} <= keys, keys  # the Slack actions' rows
        assert any(key.startswith("line:") for key in keys), keys
        assert {row[4] for row in before} == {"done"}
        period = timedelta(days=settings.privacy.purge_undelivered_after_days)
        first, last = received(path)

        # Within the period every row stays: a retry or a redelivery is still recognised.
        await RetentionSweeper(desk.bot.db, settings, lambda: first + period).run()
        assert inbox_rows(path) == before

        # After it they go, but for the newest row: the next event gets a larger id than any before.
        await RetentionSweeper(desk.bot.db, settings, lambda: last + period + timedelta(seconds=1)).run()
        assert inbox_rows(path) == before[-1:]


async def test_failed_and_pending_events_and_the_newest_row_stay(tmp_path: Path, line: FakeLine) -> None:
    settings = settings_for(tmp_path, line.base_url)
    old = NOW - timedelta(days=settings.privacy.purge_undelivered_after_days + 1)
    db = await Database.open(settings.database_path)
    try:
        async with db.transaction() as tx:
            await tx.inbox.add([IncomingEvent("line", "ev-failed", "line:U_A", "{}")], old)
            [failed] = await tx.inbox.for_key("line:U_A")
            await tx.inbox.mark_failed(failed.id, "ValueError", old)
            await tx.inbox.add([IncomingEvent("line", "ev-pending", "line:U_B", "{}")], old)
            assert await tx.inbox.record_handled("slack", "action:1", f"slack:{STAFF}", old)
            assert await tx.inbox.record_handled("slack", "action:2", f"slack:{STAFF}", old)

        largest = inbox_rows(settings.database_path)[-1][0]
        await RetentionSweeper(db, settings, lambda: NOW).run()

        assert [(row[2], row[4]) for row in inbox_rows(settings.database_path)] == [
            ("ev-failed", "failed"),  # kept for the record and `inbox retry` (its body goes, as before)
            ("ev-pending", "pending"),  # still to be handled
            ("action:2", "done"),  # the newest
        ]
        async with db.transaction() as tx:
            assert await tx.inbox.record_handled("slack", "action:3", f"slack:{STAFF}", NOW)
        assert inbox_rows(settings.database_path)[-1][0] > largest  # an id never names two events
    finally:
        await db.close()


async def test_a_long_history_is_deleted_in_bounded_transactions(
    tmp_path: Path, line: FakeLine, caplog: pytest.LogCaptureFixture
) -> None:
    """The first sweep after an upgrade finds months of handled rows: it deletes them a batch per
    transaction, so the write lock is let go between batches (webhooks wait for their acknowledgement)."""
    settings = settings_for(tmp_path, line.base_url)
    old = NOW - timedelta(days=settings.privacy.purge_undelivered_after_days + 30)
    db = await Database.open(settings.database_path)
    try:
        async with db.transaction() as tx:
            for n in range(25):
                assert await tx.inbox.record_handled("slack", f"action:{n}", f"slack:{STAFF}", old)
        caplog.set_level(logging.INFO, logger="madoguchi.retention")
        await RetentionSweeper(db, settings, lambda: NOW, handled_batch=10).run()
    finally:
        await db.close()
    # 24 deleted (the newest stays): 10 + 10 + 4, three transactions.
    assert [row[2] for row in inbox_rows(settings.database_path)] == ["action:24"]
    [purged] = [r for r in caplog.records if r.getMessage() == "retention.purged"]
    logged = vars(purged)["fields"]
    assert (logged["handled"], logged["batches"]) == (24, 3), logged
