"""The outbox waits, rather than polls, while a delivery is under way (issue 14's profile).

Found by profiling `serve` under load: the row being delivered counted as "due now", so the outbox
loop slept 0 s and listed the queue heads again and again until the delivery ended (about eleven
listings per event, the largest SQL cost of the whole path).
"""

from __future__ import annotations

from pathlib import Path

from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.line_webhook import text_event
from tests.harness import post_events, settings_for, wait_for

PUSH = "/v2/bot/message/push"


async def test_no_listing_of_the_queue_while_the_only_delivery_hangs(tmp_path: Path, line: FakeLine) -> None:
    line.hang_seconds = 1.0
    async with Runtime(settings_for(tmp_path, line.base_url)) as bot:
        listings: list[str] = []
        # Every statement the reader runs (the outbox lists its due rows through it).
        reader = bot.db._reader
        await reader.set_trace_callback(
            lambda sql: listings.append(sql) if "GROUP BY order_key" in sql else None
        )
        line.fail_next("timeout", path=PUSH)  # held for hang_seconds, then a 500
        await post_events(bot.base_url, [text_event("U_HANAKO", "こんにちは", reply_token="stale")])
        await wait_for(lambda: bool(line.find_requests(path=PUSH)))
        during = len(listings)
        await wait_for(lambda: line.find_requests(path=PUSH)[0].status == 500)
        hung = len(listings) - during
        await wait_for(
            lambda: len(line.find_requests(path=PUSH)) == 2 and line.find_requests(path=PUSH)[1].status == 200
        )  # and then delivered, on the retry
    # A second of hanging: at most the one look at the queue that ends the turn that started it.
    assert hung <= 2, hung
