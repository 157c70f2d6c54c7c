"""A case card whose ts cannot be recorded (the disk fails just then) is posted once, not on every retry."""

from __future__ import annotations

import asyncio

from tests.hostile.test_failing_database import break_writes, guard, mend_writes
from tests.line.test_intake_e2e import Citizen
from tests.slack.test_desk_e2e import Desk, card_posted, desk, submit_intake

__all__ = ["desk"]  # the fixture, shared with the desk tests


def card_posts(desk: Desk) -> int:
    return sum(1 for r in desk.slack.find_calls("chat.postMessage") if r.ok and "thread_ts" not in r.params)


async def test_the_card_is_posted_once_while_its_ts_cannot_be_stored(desk: Desk) -> None:
    path = desk.bot.db.path
    guard(path, "fail_card_ts", "BEFORE UPDATE OF slack_ts ON cases")
    break_writes(path)
    await submit_intake(Citizen(desk.bot.base_url, desk.line))
    for _ in range(200):  # the card goes out; recording its ts fails and is retried in memory
        if card_posts(desk):
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(1.0)  # the old sender posted another card on every retry in this time
    assert card_posts(desk) == 1
    mend_writes(path)
    case = await card_posted(desk)
    assert case.slack_ts is not None and card_posts(desk) == 1
