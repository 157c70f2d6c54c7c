"""`kill -9` in the middle of a burst of 500 webhooks, a restart, and LINE redelivering what it did not
see acknowledged.

100 citizens write five messages each, each citizen's next only once the last was acknowledged (as
LINE sends them), and typing ahead of the answers by at most three messages: so the burst is still
coming in when answers go out. The process is killed once 350 events are acknowledged (about 300
of them not yet answered) and answers are going out. Counted at the fake LINE: every event answered exactly once and in each citizen's order; the
database file passes `PRAGMA integrity_check` right after the kill and at the end.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.sandbox.fake_line import FakeLine
from tests.drills.drill import (
    CENTER,
    KEYWORDS,
    all_answered,
    answers_by_keyword,
    citizens,
    integrity,
    settle,
    typing_ahead,
    wrongly_answered,
)
from tests.harness import LINE_TOKEN, start_serve, wait_for, write_config
from tests.line.test_crash_drill import kill_when, send_in_order
from tests.line.test_restart import serving

pytestmark = pytest.mark.slow

CITIZENS = 100
BURST = CITIZENS * len(KEYWORDS)
AHEAD = 3
KILL_AFTER_ACKS = CITIZENS * AHEAD + 50


async def test_kill_9_mid_burst_then_every_acknowledged_event_is_answered_once_in_order(
    tmp_path: Path,
) -> None:
    database = tmp_path / "madoguchi.sqlite3"
    async with FakeLine(access_token=LINE_TOKEN) as line:
        config = write_config(tmp_path, line.base_url, CENTER)
        events = citizens(line, CITIZENS, "BURST")

        process, address, _ = await start_serve(config)
        acked: dict[str, int] = {}
        try:
            kill = asyncio.create_task(
                kill_when(
                    process, lambda: sum(acked.values()) >= KILL_AFTER_ACKS and bool(line.sent_messages())
                )
            )
            pace = typing_ahead(line, AHEAD, until=kill.done)
            await send_in_order(address, events, in_flight=32, stop=kill.done, acked=acked, pace=pace)
            await kill
        finally:
            if process.returncode is None:
                process.kill()
            await process.wait()
        assert KILL_AFTER_ACKS <= sum(acked.values()) < BURST
        assert integrity(database) == "ok"
        delivered_before_restart = len(line.sent_messages())

        # LINE redelivers, in order, each citizen's events from the first it saw no 200 for (the
        # process may have committed some of those before it died: they must not be handled twice).
        rest = {user: evs[acked[user] :] for user, evs in events.items() if acked[user] < len(evs)}
        for evs in rest.values():
            for event in evs:
                event["deliveryContext"] = {"isRedelivery": True}
        async with serving(config) as restarted:
            assert await send_in_order(restarted, rest, in_flight=32) == {u: len(e) for u, e in rest.items()}
            answers = await answers_by_keyword(restarted, line)
            await wait_for(lambda: all_answered(line, events, answers), within=60)
            await settle(database)

        assert wrongly_answered(line, events, answers) == {}
        assert integrity(database) == "ok"
        # The kill really cut deliveries short: some answers had gone out, not all.
        assert 0 < delivered_before_restart < sum(len(a) for a in answers.values()) * CITIZENS
