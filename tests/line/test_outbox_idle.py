"""The outbox waits, rather than polls, while a delivery is under way (issue 14's profile).

Found by profiling `serve` under load: the row being delivered counted as "due now", so the outbox
loop slept 0 s and listed the queue heads again and again until the delivery ended (about eleven
listings per event, the largest SQL cost of the whole path).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import aiosqlite
import pytest

from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.line_webhook import text_event
from storage.outbox_rows import LineMessages
from tests.harness import hold_database, post_events, settings_for, wait_for
from tests.hostile.test_failing_database import break_writes, guard, mend_writes

PUSH = "/v2/bot/message/push"
# The outbox's one listing of its queue heads (storage/outbox.py `heads`).
LISTING = "NOT EXISTS (SELECT 1 FROM outbox older"


async def count_listings(reader: aiosqlite.Connection) -> Callable[[], int]:
    """Counts the reader's listings of the queue heads from now on."""
    listings: list[str] = []
    await reader.set_trace_callback(lambda sql: listings.append(sql) if LISTING in sql else None)
    return lambda: len(listings)


async def test_no_listing_of_the_queue_while_the_only_delivery_hangs(tmp_path: Path, line: FakeLine) -> None:
    line.hang_seconds = 1.0
    async with Runtime(settings_for(tmp_path, line.base_url)) as bot:
        # Every listing the reader runs (the outbox lists its queue heads through it).
        listings = await count_listings(bot.db._reader)
        line.fail_next("timeout", path=PUSH)  # held for hang_seconds, then a 500
        await post_events(bot.base_url, [text_event("U_HANAKO", "こんにちは", reply_token="stale")])
        await wait_for(lambda: bool(line.find_requests(path=PUSH)))
        during = listings()
        assert during > 0  # the count sees the listings (a changed statement would blind it)
        await wait_for(lambda: line.find_requests(path=PUSH)[0].status == 500)
        hung = listings() - during
        await wait_for(
            lambda: len(line.find_requests(path=PUSH)) == 2 and line.find_requests(path=PUSH)[1].status == 200
        )  # and then delivered, on the retry
    # A second of hanging: at most the one look at the queue that ends the turn that started it.
    assert hung <= 2, hung


async def test_no_listing_of_the_queue_while_a_kept_outcome_waits_to_be_recorded_again(
    tmp_path: Path, line: FakeLine
) -> None:
    """A delivery whose outcome could not be stored (a failing disk) keeps it and records it again
    0.5 s later; while that second try waits for the writer (another process holds the lock), the
    loop has nothing to do and must sleep, not list the queue again and again."""
    async with Runtime(settings_for(tmp_path, line.base_url, max_attempts=50)) as bot:
        path = bot.db.path
        guard(path, "fail_outcome", "BEFORE UPDATE OF status ON outbox")
        listings = await count_listings(bot.db._reader)
        break_writes(path)
        async with bot.db.transaction() as tx:
            await tx.outbox.add(LineMessages([{"type": "text", "text": "お知らせ"}]), "U_HANAKO", bot.clock())
        bot.outbox.wake()
        await wait_for(lambda: bool(line.sent_messages("U_HANAKO")))  # sent; its outcome is not stored
        release = hold_database(path)  # the second try (0.5 s on) waits for the lock
        try:
            before = listings()
            await asyncio.sleep(1.5)  # the lock held, the second try waiting from about 0.5 s on
            during = listings() - before
        finally:
            release.set()
        mend_writes(path)

        async def recorded() -> bool:
            [row] = await bot.db.read.outbox.in_order("line:U_HANAKO")
            return row.status == "sent"

        await wait_for(recorded, within=10)
    assert len(line.sent_messages("U_HANAKO")) == 1  # sent once, never again
    # Nothing is due meanwhile: the round that starts the second try, at most one more.
    assert during <= 3, during


async def test_a_failing_read_of_the_row_to_deliver_is_tried_again_after_a_pause(
    tmp_path: Path, line: FakeLine, caplog: pytest.LogCaptureFixture
) -> None:
    """The worker reads a listed row again before delivering it; when that read fails (here its
    connection is gone), the row waits and is tried again after a pause that doubles, logged each
    time: not listed and dispatched again at once, round after round."""
    async with Runtime(settings_for(tmp_path, line.base_url)) as bot:
        bot.db._quick.close()
        with caplog.at_level(logging.ERROR, logger="madoguchi.outbox"):
            async with bot.db.transaction() as tx:
                await tx.outbox.add(
                    LineMessages([{"type": "text", "text": "お知らせ"}]), "U_HANAKO", bot.clock()
                )
            bot.outbox.wake()
            await asyncio.sleep(1.2)  # tries at 0 s, 0.5 s and 1.5 s
        failed = [r for r in caplog.records if r.getMessage() == "outbox.read_failed"]
    assert 1 <= len(failed) <= 3, len(failed)
    assert line.sent_messages("U_HANAKO") == []
