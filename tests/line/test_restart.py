"""A real `madoguchi serve` process killed with SIGKILL at the worst moments, then restarted."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bot.sandbox.fake_line import FakeLine
from bot.sandbox.line_webhook import text_event
from storage import Database
from tests.conftest import NOW
from tests.harness import post_events, start_serve, wait_for, write_config

PUSH = "/v2/bot/message/push"


@asynccontextmanager
async def serving(config: Path) -> AsyncIterator[str]:
    process, address, _ = await start_serve(config)
    try:
        yield address
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(process.wait(), 10) == 0


async def kill_while(config: Path, line: FakeLine, events: list[dict[str, object]], stuck_on: str) -> None:
    """Deliver events to a fresh process, wait until it is stuck calling `stuck_on`, then SIGKILL it."""
    process, address, _ = await start_serve(config)
    try:
        assert (await post_events(address, events))[0] == 200  # acknowledged: LINE will not redeliver
        await wait_for(lambda: any(r.path.startswith(stuck_on) for r in line.requests))
    finally:
        process.kill()
        await process.wait()


async def agreed_citizen(database: Path, line_user_id: str) -> None:
    """A citizen who has agreed to the privacy notice: the bot looks up their profile when they write."""
    db = await Database.open(database)
    try:
        async with db.transaction() as tx:
            user = await tx.users.ensure(line_user_id, NOW)
            await tx.users.set_privacy_agreed(user.id, NOW, NOW)
    finally:
        await db.close()


async def test_killed_after_the_200_and_before_handling_handles_the_event_once(tmp_path: Path) -> None:
    async with FakeLine(access_token="test-access-token") as line:
        line.set_profile("U_HANAKO", "山田 花子")
        config = write_config(tmp_path, line.base_url)
        await agreed_citizen(tmp_path / "madoguchi.sqlite3", "U_HANAKO")
        # Handling starts by asking LINE for the profile; that call hangs, and the process dies.
        line.hang_seconds = 60
        line.fail_next("timeout", path="/v2/bot/profile")
        token = line.issue_reply_token("U_HANAKO")
        await kill_while(
            config, line, [text_event("U_HANAKO", "ヘルプ", reply_token=token)], "/v2/bot/profile"
        )

        db = await Database.open(tmp_path / "madoguchi.sqlite3")
        try:
            assert len(await db.read.inbox.pending()) == 1
            assert await db.read.outbox.in_order("line:U_HANAKO") == []
        finally:
            await db.close()

        async with serving(config):
            await wait_for(lambda: len(line.sent_messages("U_HANAKO")) == 2)
            await asyncio.sleep(0.3)
        async with serving(config):  # a second restart finds nothing left to do
            await asyncio.sleep(0.3)
        assert len(line.sent_messages("U_HANAKO")) == 2
        assert line.sent_messages("U_HANAKO")[0].kind == "reply"
        assert "できること" in line.sent_messages("U_HANAKO")[0].message["text"]


async def test_killed_after_line_accepted_a_push_sends_it_once(tmp_path: Path) -> None:
    async with FakeLine(access_token="test-access-token") as line:
        line.set_profile("U_HANAKO", "山田 花子")
        config = write_config(tmp_path, line.base_url)
        # LINE takes the push, but the process dies before it hears so.
        line.hang_seconds = 60
        line.fail_next("accept_then_hang", path=PUSH)
        await kill_while(config, line, [text_event("U_HANAKO", "こんにちは", reply_token="stale")], PUSH)
        assert len(line.sent_messages("U_HANAKO")) == 2  # accepted once already

        async with serving(config):
            await wait_for(lambda: len(line.find_requests(path=PUSH)) == 2)
            db = await Database.open(tmp_path / "madoguchi.sqlite3")
            try:

                async def sent() -> bool:
                    rows = await db.read.outbox.in_order("line:U_HANAKO")
                    return [r.status for r in rows] == ["sent"]

                await wait_for(sent)
            finally:
                await db.close()
        pushes = line.find_requests(path=PUSH)
        assert [r.status for r in pushes] == [0, 409]
        assert pushes[0].headers["x-line-retry-key"] == pushes[1].headers["x-line-retry-key"]
        assert len(line.sent_messages("U_HANAKO")) == 2  # still once
