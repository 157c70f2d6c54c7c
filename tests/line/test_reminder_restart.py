"""Reminders across real `madoguchi serve` processes, killed with SIGKILL and restarted.

The reminder falls due while no process runs; the first process is killed after LINE accepted its
multicast but before it heard so; three more starts follow. LINE must have delivered it exactly once.
Nobody sleeps for the reminder: it is already due when the processes start (real clock).
"""

from __future__ import annotations

import asyncio
import re
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.sandbox.fake_line import FakeLine
from storage import Database
from storage.events import EventDraft
from tests.harness import start_serve, wait_for, write_config

MULTICAST = "/v2/bot/message/multicast"
USERS = [f"U{n:032x}" for n in range(7)]


async def seed(database: Path) -> int:
    """An event starting in an hour, seven registrants, and its 2-hours-before reminder, due an hour ago."""
    now = datetime.now(UTC)
    starts = now + timedelta(hours=1)
    db = await Database.open(database)
    try:
        async with db.transaction() as tx:
            event = await tx.events.upsert(
                EventDraft(
                    uid="salon", kind="salon", title="ミズベサロン", starts_at=starts, venue="スペースA"
                ),
                now,
            )
            for line_user_id in USERS:
                user = await tx.users.ensure(line_user_id, now)
                await tx.registrations.put(event.id, user.id, "registered", 1, now)
            # Created while its time was still ahead (as the bot would have done before it went down).
            created = await tx.reminders.ensure_for_event(
                event.id, starts, [timedelta(hours=2)], now - timedelta(hours=2)
            )
            assert created == 1
        return event.id
    finally:
        await db.close()


async def read_until(process: asyncio.subprocess.Process, pattern: str, lines: list[str]) -> None:
    assert process.stderr is not None
    if any(re.search(pattern, line) for line in lines):
        return
    while True:
        line = (await asyncio.wait_for(process.stderr.readline(), timeout=20)).decode()
        assert line, f"server exited early: {lines}"
        lines.append(line)
        if re.search(pattern, line):
            return


async def reminder_statuses(database: Path, event_id: int) -> tuple[list[str], list[str]]:
    db = await Database.open(database)
    try:
        reminders: list[str] = [r.status for r in await db.read.reminders.for_event(event_id)]
        rows = await db.read.outbox.in_order("line:multicast:reminder:1:0")
        return reminders, [r.status for r in rows]
    finally:
        await db.close()


async def test_a_reminder_due_while_down_is_sent_once_across_a_kill_and_three_restarts(
    tmp_path: Path,
) -> None:
    async with FakeLine(access_token="test-access-token", quota=10_000) as line:
        config = write_config(tmp_path, line.base_url)
        database = tmp_path / "madoguchi.sqlite3"
        event_id = await seed(database)

        # First start: the reminder goes out at once; LINE takes the multicast, the process dies unanswered.
        line.hang_seconds = 60
        line.fail_next("accept_then_hang", path=MULTICAST)
        process, _, _ = await start_serve(config)
        try:
            await wait_for(lambda: len(line.find_requests(path=MULTICAST)) == 1)
        finally:
            process.kill()
            await process.wait()
        assert await reminder_statuses(database, event_id) == (["done"], ["pending"])

        # Three restarts: the first sends the same row again with its retry key (LINE answers 409),
        # the others find nothing to do.
        for _ in range(3):
            process, _, lines = await start_serve(config)
            try:
                await read_until(process, r"event=reminders\.started", lines)

                async def sent() -> bool:
                    return await reminder_statuses(database, event_id) == (["done"], ["sent"])

                await wait_for(sent)
            finally:
                process.send_signal(signal.SIGTERM)
                assert await asyncio.wait_for(process.wait(), 10) == 0

        multicasts = line.find_requests(path=MULTICAST)
        assert [r.status for r in multicasts] == [0, 409]
        assert multicasts[0].headers["x-line-retry-key"] == multicasts[1].headers["x-line-retry-key"]
        for user in USERS:
            texts = line.sent_texts(user)
            assert len(texts) == 1 and "ミズベサロン" in texts[0]
        assert not line.find_requests(path="/v2/bot/message/push")
