"""The crash drill: a burst of webhooks, `kill -9` halfway, a restart, LINE redelivers the rest.

Counted at the fake LINE, per citizen: every event is answered, and none twice.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import aiohttp

from bot.sandbox.fake_line import FakeLine
from bot.sandbox.line_webhook import text_event
from storage import Database
from tests.harness import LINE_TOKEN, post_events, start_serve, wait_for, write_config
from tests.line.test_restart import serving

CITIZENS = 300
KILL_AFTER_ACKS = 150


async def _send_all(address: str, events: dict[str, dict[str, object]], users: list[str]) -> set[str]:
    """Post each user's event (16 at a time); return the users whose webhook got its 200."""
    acked: set[str] = set()
    slots = asyncio.Semaphore(16)
    async with aiohttp.ClientSession() as session:

        async def send(user: str) -> None:
            async with slots:
                try:
                    status, _ = await post_events(address, [events[user]], session=session)
                except (aiohttp.ClientError, OSError):
                    return  # the server died under us: LINE will redeliver
                if status == 200:
                    acked.add(user)

        await asyncio.gather(*(send(u) for u in users))
    return acked


async def test_kill_mid_burst_then_redelivery_answers_each_event_exactly_once(tmp_path: Path) -> None:
    async with FakeLine(access_token=LINE_TOKEN) as line:
        config = write_config(tmp_path, line.base_url)
        users = [f"U_DRILL_{i:03d}" for i in range(CITIZENS)]
        events = {u: text_event(u, "ヘルプ", reply_token=line.issue_reply_token(u)) for u in users}

        process, address, _ = await start_serve(config)
        try:
            # Acks are counted as they come; once 150 are in and answers are going out, the process is
            # killed, mid-burst and mid-delivery (on a slow machine the answers may lag the acks).
            acked: set[str] = set()
            slots = asyncio.Semaphore(16)

            async def killer() -> None:
                await wait_for(
                    lambda: len(acked) >= KILL_AFTER_ACKS and bool(line.sent_messages()), within=60
                )
                process.kill()

            kill = asyncio.create_task(killer())
            async with aiohttp.ClientSession() as session:

                async def send(user: str) -> None:
                    async with slots:
                        if process.returncode is not None or kill.done():
                            return
                        try:
                            status, _ = await post_events(address, [events[user]], session=session)
                        except (aiohttp.ClientError, OSError):
                            return
                        if status == 200:
                            acked.add(user)

                await asyncio.gather(*(send(u) for u in users))
            await kill
        finally:
            if process.returncode is None:
                process.kill()
            await process.wait()
        assert KILL_AFTER_ACKS <= len(acked) <= CITIZENS
        answered_before_restart = len({m.to for m in line.sent_messages()})

        # LINE redelivers every event it did not see acknowledged.
        missing = [u for u in users if u not in acked]
        for user in missing:
            events[user]["deliveryContext"] = {"isRedelivery": True}
        async with serving(config) as restarted:
            assert await _send_all(restarted, events, missing) == set(missing)
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
