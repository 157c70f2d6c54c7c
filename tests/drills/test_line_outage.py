"""LINE's API down, then back: every answer delivered once, in each citizen's order.

40 citizens write five messages each while the Messaging API is unreachable: first its port refuses
connections, then it answers every request with 500. The webhooks are acknowledged all the same
(they need only the database); the answers wait in the outbox and are retried with backoff.

The issue asks for a minute of outage. What that minute means to the bot is a number of retry
rounds (with the shipped backoff, `[delivery] base_delay_seconds = 1` doubling up to 300 s, a minute
is six rounds). So the outage here is counted in rounds, not seconds, and the backoff is small: the
outage lasts until the answer at the head of every citizen's queue has failed `DRILL_REFUSED_ROUNDS`
times against the closed port, then `DRILL_500_ROUNDS` times against the 500s, with a backoff of
`DRILL_BASE_DELAY` seconds doubling up to four times that. The defaults (3 + 3 rounds from 0.1 s)
take a few seconds of CI; `DRILL_BASE_DELAY=1 DRILL_REFUSED_ROUNDS=10 DRILL_500_ROUNDS=10` in the
environment makes it a real outage of about a minute. Past 20 s the answers go out as pushes rather
than replies (a reply token's fate is unsure by then), which the drill accepts as long as each
arrives once, in order.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.sandbox.fake_line import FakeLine
from tests.drills.drill import (
    CENTER,
    all_answered,
    answers_by_keyword,
    citizens,
    every_head_tried,
    integrity,
    serve_logged,
    settle,
    wrongly_answered,
)
from tests.drills.relay import LINE_500, Relay
from tests.harness import LINE_TOKEN, wait_for, write_config
from tests.line.test_crash_drill import send_in_order

pytestmark = pytest.mark.slow

CITIZENS = 40
BASE_DELAY = float(os.environ.get("DRILL_BASE_DELAY", "0.1"))
REFUSED_ROUNDS = int(os.environ.get("DRILL_REFUSED_ROUNDS", "3"))
FAILING_ROUNDS = int(os.environ.get("DRILL_500_ROUNDS", "3"))
# Each round waits at most 4 x BASE_DELAY (the backoff's ceiling); room for a slow machine besides.
OUTAGE_BOUND = 60 + 8 * BASE_DELAY * (REFUSED_ROUNDS + FAILING_ROUNDS)


@pytest.mark.timeout(60 + 2 * OUTAGE_BOUND)
async def test_line_down_for_many_retry_rounds_then_back_delivers_every_answer_once_in_order(
    tmp_path: Path,
) -> None:
    database = tmp_path / "madoguchi.sqlite3"
    async with FakeLine(access_token=LINE_TOKEN, quota=10**6) as line, Relay(line.base_url) as relay:
        config = write_config(tmp_path, relay.base_url, CENTER, base_delay=BASE_DELAY, max_attempts=50)
        events = citizens(line, CITIZENS, "OUTAGE")
        async with serve_logged(config) as (address, log):
            await relay.refuse_connections()
            acked = await send_in_order(address, events, in_flight=32)
            assert acked == dict.fromkeys(events, 5)  # acknowledging needs no LINE

            await wait_for(
                lambda: every_head_tried(database, "line", REFUSED_ROUNDS, CITIZENS), within=OUTAGE_BOUND
            )
            await relay.fail_everything(LINE_500)
            await wait_for(
                lambda: every_head_tried(database, "line", REFUSED_ROUNDS + FAILING_ROUNDS, CITIZENS),
                within=OUTAGE_BOUND,
            )
            assert line.sent_messages() == []  # nothing got through the outage
            assert len(relay.refusals) >= CITIZENS * FAILING_ROUNDS

            await relay.restore()
            answers = await answers_by_keyword(address, line)
            await wait_for(lambda: all_answered(line, events, answers), within=OUTAGE_BOUND)
            await settle(database)

        assert wrongly_answered(line, events, answers) == {}
        assert integrity(database) == "ok"
        assert "Traceback" not in "".join(log)
