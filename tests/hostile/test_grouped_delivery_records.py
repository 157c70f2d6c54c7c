"""Delivery bookkeeping shared among concurrent deliveries, against a disk that fails for real.

Reply attempts are committed in groups (each reply waits for the commit that holds its own mark)
and outcomes are recorded in groups; a write that fails must cost only its own delivery: no reply
leaves unrecorded, no other citizen's answer waits or is lost, nothing goes out twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.line_webhook import text_event
from tests.harness import post_events, settings_for, wait_for
from tests.hostile.conftest import ServerLog
from tests.hostile.test_failing_database import break_writes, guard, mend_writes

REPLY = "/v2/bot/message/reply"
PUSH = "/v2/bot/message/push"
CULPRIT = "U_CULPRIT"
OTHERS = [f"U_CITIZEN{n:02d}" for n in range(12)]


@pytest.fixture
async def bot(tmp_path: Path, line: FakeLine) -> AsyncIterator[Runtime]:
    # Enough attempts that a row is not given up while the disk is broken.
    async with Runtime(settings_for(tmp_path, line.base_url, max_attempts=50)) as runtime:
        yield runtime


def replies_to(line: FakeLine, user: str) -> int:
    return sum(1 for m in line.sent_messages(user) if m.kind == "reply")


async def ask_all(bot: Runtime, line: FakeLine, users: list[str]) -> None:
    """One webhook with a message from each user, each with a fresh reply token."""
    events = [text_event(u, "ヘルプ", reply_token=line.issue_reply_token(u)) for u in users]
    assert (await post_events(bot.base_url, events))[0] == 200


async def all_sent(bot: Runtime, user: str) -> bool:
    rows = await bot.db.read.outbox.in_order(f"line:{user}")
    return bool(rows) and all(r.status == "sent" for r in rows)


async def test_a_reply_never_leaves_before_its_attempt_is_committed(
    bot: Runtime, line: FakeLine, server_log: ServerLog
) -> None:
    path = bot.db.path
    guard(path, "fail_attempt", "BEFORE UPDATE OF reply_attempted_at ON outbox")
    break_writes(path)
    await ask_all(bot, line, ["U_HANAKO"])

    async def tried_twice() -> bool:
        rows = await bot.db.read.outbox.in_order("line:U_HANAKO")
        return bool(rows) and rows[0].attempts >= 2

    await wait_for(tried_twice)
    assert "delivery.records.commit_failed" in server_log.text
    # Not recorded, so not sent: neither as a reply nor as a push.
    assert line.find_requests(path=REPLY) == [] and line.find_requests(path=PUSH) == []
    mend_writes(path)
    await wait_for(lambda: all_sent(bot, "U_HANAKO"))
    [row] = await bot.db.read.outbox.in_order("line:U_HANAKO")
    assert (row.delivered_via, row.reply_attempted_at is not None) == ("reply", True)
    assert len(line.find_requests(path=REPLY)) == 1
    assert "traceback=" not in server_log.text


async def test_one_reply_attempt_that_cannot_be_recorded_holds_back_no_other_reply(
    bot: Runtime, line: FakeLine, server_log: ServerLog
) -> None:
    path = bot.db.path
    guard(
        path,
        "fail_culprit",
        f"BEFORE UPDATE OF reply_attempted_at ON outbox WHEN NEW.recipient = '{CULPRIT}'",
    )
    break_writes(path)
    await ask_all(bot, line, [*OTHERS[:6], CULPRIT, *OTHERS[6:]])
    for user in OTHERS:
        await wait_for(lambda user=user: all_sent(bot, user))
    assert all(replies_to(line, u) == len(line.sent_messages(u)) > 0 for u in OTHERS)  # all by reply
    assert line.sent_messages(CULPRIT) == []
    mend_writes(path)
    await wait_for(lambda: all_sent(bot, CULPRIT))
    assert replies_to(line, CULPRIT) == len(line.sent_messages(CULPRIT)) > 0
    assert len(line.find_requests(path=REPLY)) == len(OTHERS) + 1  # one reply each, none twice
    assert "traceback=" not in server_log.text


async def test_one_outcome_that_cannot_be_recorded_loses_no_other_and_is_not_sent_again(
    bot: Runtime, line: FakeLine, server_log: ServerLog
) -> None:
    path = bot.db.path
    guard(
        path, "fail_sent", f"BEFORE UPDATE ON outbox WHEN NEW.status = 'sent' AND NEW.recipient = '{CULPRIT}'"
    )
    break_writes(path)
    await ask_all(bot, line, [*OTHERS[:6], CULPRIT, *OTHERS[6:]])
    for user in OTHERS:
        await wait_for(lambda user=user: all_sent(bot, user))
    # The culprit's answer went out; storing that failed, and failed again when tried later.
    await wait_for(lambda: server_log.text.count("outbox.record_failed") >= 2)
    assert replies_to(line, CULPRIT) > 0
    sent_to_culprit = len(line.sent_messages(CULPRIT))
    [row] = await bot.db.read.outbox.in_order(f"line:{CULPRIT}")
    assert row.status == "pending"
    mend_writes(path)
    await wait_for(lambda: all_sent(bot, CULPRIT))
    await wait_for(lambda: "outbox.recorded_late" in server_log.text)
    assert len(line.sent_messages(CULPRIT)) == sent_to_culprit  # kept in memory, never sent again
    assert len(line.find_requests(path=REPLY)) == len(OTHERS) + 1
    assert line.find_requests(path=PUSH) == []
    assert "traceback=" not in server_log.text
