"""The crash drill: a burst of webhooks, `kill -9` halfway, a restart, LINE redelivers the rest.

Counted at the fake LINE, per citizen: every event is answered, and none twice.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

import aiohttp

from bot.sandbox.fake_line import FakeLine
from bot.sandbox.line_webhook import text_event
from storage import Database
from tests.harness import LINE_TOKEN, post_events, start_serve, wait_for, write_config
from tests.line.test_restart import serving

CITIZENS = 300
KILL_AFTER_ACKS = 150


async def send_in_order(
    address: str,
    events: Mapping[str, Sequence[dict[str, object]]],
    *,
    in_flight: int = 16,
    stop: Callable[[], bool] = lambda: False,
    acked: dict[str, int] | None = None,
    pace: Callable[[str, int], Awaitable[None]] | None = None,
) -> dict[str, int]:
    """Post each user's events one after another, as LINE does (a user's next event only once the last
    got its 200), `in_flight` requests at a time. Returns how many of each user's events were
    acknowledged: a prefix of them. A user's run ends at the first request without a 200 (the server
    died under us: LINE will redeliver the rest), and nothing more is sent once `stop()` is true.
    The counts are kept in `acked` as they come, when given (to watch them during the burst); `pace`,
    when given, is awaited before a user's k-th event (0-based) is sent."""
    acked = {} if acked is None else acked
    acked.update(dict.fromkeys(events, 0))
    slots = asyncio.Semaphore(in_flight)
    async with aiohttp.ClientSession() as session:

        async def send(user: str) -> None:
            for k, event in enumerate(events[user]):
                if pace is not None:
                    await pace(user, k)
                async with slots:
                    if stop():
                        return
                    try:
                        status, _ = await post_events(address, [event], session=session)
                    except (aiohttp.ClientError, OSError):
                        return
                    if status != 200:
                        return
                    acked[user] += 1

        await asyncio.gather(*(send(u) for u in events))
    return acked


async def kill_when(process: asyncio.subprocess.Process, condition: Callable[[], bool]) -> None:
    """SIGKILL the process once `condition` holds (checked every few ms, for at most a minute)."""
    await wait_for(condition, within=60)
    process.kill()


async def test_kill_mid_burst_then_redelivery_answers_each_event_exactly_once(tmp_path: Path) -> None:
    async with FakeLine(access_token=LINE_TOKEN) as line:
        config = write_config(tmp_path, line.base_url)
        users = [f"U_DRILL_{i:03d}" for i in range(CITIZENS)]
        events = {u: text_event(u, "ヘルプ", reply_token=line.issue_reply_token(u)) for u in users}

        process, address, _ = await start_serve(config)
        try:
            # Acks are counted as they come; once 150 are in and answers are going out, the process is
            # killed, mid-burst and mid-delivery (on a slow machine the answers may lag the acks).
            acked: dict[str, int] = {}
            kill = asyncio.create_task(
                kill_when(
                    process,
                    lambda: sum(acked.values()) >= KILL_AFTER_ACKS and bool(line.sent_messages()),
                )
            )
            await send_in_order(address, {u: [events[u]] for u in users}, stop=kill.done, acked=acked)
            await kill
        finally:
            if process.returncode is None:
                process.kill()
            await process.wait()
        assert KILL_AFTER_ACKS <= sum(acked.values()) <= CITIZENS
        answered_before_restart = len({m.to for m in line.sent_messages()})

        # LINE redelivers every event it did not see acknowledged.
        missing = [u for u in users if not acked[u]]
        for user in missing:
            events[user]["deliveryContext"] = {"isRedelivery": True}
        async with serving(config) as restarted:
            redelivered = await send_in_order(restarted, {u: [events[u]] for u in missing})
            assert redelivered == dict.fromkeys(missing, 1)
            await wait_for(lambda: {m.to for m in line.sent_messages()} >= set(users), within=60)
            # One more citizen, undisturbed: how many messages one answer is.
            control = text_event("U_CONTROL", "ヘルプ", reply_token=line.issue_reply_token("U_CONTROL"))
            assert (await post_events(restarted, [control]))[0] == 200
            await wait_for(lambda: line.sent_messages("U_CONTROL") != [])
            db = await Database.open(tmp_path / "madoguchi.sqlite3", migrate=False)
            try:

                async def settled() -> bool:
                    return await db.read.outbox.count("pending") == 0

                await wait_for(settled, within=60)
                assert await db.read.inbox.count("failed") == 0
                assert await db.read.outbox.count("dead") == 0
            finally:
                await db.close()

        answer_size = len(line.sent_messages("U_CONTROL"))
        per_user = Counter(str(m.to) for m in line.sent_messages() if m.to != "U_CONTROL")
        twice = sorted(u for u, n in per_user.items() if n != answer_size)
        assert set(per_user) == set(users)
        assert twice == [], f"answered more than once: {twice}"
        # The drill really cut deliveries short: some answers went out before the kill, not all.
        assert 0 < answered_before_restart < CITIZENS
