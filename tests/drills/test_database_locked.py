"""The database locked by another process for a few seconds: no webhook lost, acknowledgements resume.

30 citizens write five messages each; after their first two, another process takes the database
with `BEGIN EXCLUSIVE` and holds it `DRILL_LOCK_SECONDS` (6 s: longer than the bot's 5 s busy
timeout, so its writes fail as well as wait). The rest of the messages arrive meanwhile, sent as
LINE sends webhooks: a request not answered 200 within LINE's 2 s is sent again (marked as a
redelivery) until it is. Afterwards every event is answered exactly once, in each citizen's order.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import aiohttp
import pytest

from bot.sandbox.fake_line import FakeLine
from tests.drills.drill import (
    CENTER,
    Event,
    all_answered,
    answers_by_keyword,
    citizens,
    integrity,
    serve_logged,
    settle,
    wrongly_answered,
)
from tests.harness import LINE_TOKEN, post_events, wait_for, write_config
from tests.line.test_crash_drill import send_in_order

pytestmark = pytest.mark.slow

CITIZENS = 30
FIRST = 2
LOCK_SECONDS = float(os.environ.get("DRILL_LOCK_SECONDS", "6"))
LINE_TIMEOUT = 2.0  # LINE gives up on a webhook request after about this long
RESEND_AFTER = 0.5

# Takes the database as another program would (a backup tool, an operator's sqlite3 shell).
HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
conn.close()
"""


async def send_like_line(address: str, events: Mapping[str, Sequence[Event]]) -> int:
    """Each citizen's events in order; an event without a 200 in `LINE_TIMEOUT` is sent again (a
    redelivery) until it gets one. Returns how many requests went unacknowledged on the way."""
    unacknowledged = 0
    timeout = aiohttp.ClientTimeout(total=LINE_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def send(user: str) -> None:
            nonlocal unacknowledged
            for event in events[user]:
                while True:
                    try:
                        status, _ = await post_events(address, [event], session=session)
                    except (TimeoutError, aiohttp.ClientError):
                        status = 0
                    if status == 200:
                        break
                    unacknowledged += 1
                    event["deliveryContext"] = {"isRedelivery": True}
                    await asyncio.sleep(RESEND_AFTER)  # LINE's redelivery comes later, not at once

        await asyncio.gather(*(send(u) for u in events))
    return unacknowledged


@pytest.mark.timeout(120 + 2 * LOCK_SECONDS)
async def test_database_locked_by_another_process_loses_no_webhook(tmp_path: Path) -> None:
    database = tmp_path / "madoguchi.sqlite3"
    async with FakeLine(access_token=LINE_TOKEN) as line:
        config = write_config(tmp_path, line.base_url, CENTER)
        events = citizens(line, CITIZENS, "LOCKED")
        async with serve_logged(config) as (address, log):
            first = {user: evs[:FIRST] for user, evs in events.items()}
            assert await send_in_order(address, first) == dict.fromkeys(events, FIRST)

            holder = await asyncio.create_subprocess_exec(
                sys.executable, "-c", HOLD_LOCK, str(database), str(LOCK_SECONDS),
                stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            try:
                assert holder.stdout is not None
                assert await asyncio.wait_for(holder.stdout.readline(), 20) == b"locked\n"
                rest = {user: evs[FIRST:] for user, evs in events.items()}
                unacknowledged = await send_like_line(address, rest)
            finally:
                assert await asyncio.wait_for(holder.wait(), 20 + LOCK_SECONDS) == 0
            assert unacknowledged > 0  # the lock really held the acknowledgements back

            answers = await answers_by_keyword(address, line)  # acknowledgements resumed
            await wait_for(lambda: all_answered(line, events, answers), within=60)
            await settle(database)

        assert wrongly_answered(line, events, answers) == {}
        assert integrity(database) == "ok"
        assert "Traceback" not in "".join(log)
