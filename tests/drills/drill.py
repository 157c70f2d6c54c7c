"""What the fault drills share: citizens who each write several messages in a row, what the bot should
have answered each, and checks on the database file.

Each citizen writes the five keywords below in an order of their own; each keyword has an answer of
its own, so the messages LINE accepted for a citizen show which events were answered, how many times,
and in which order. The answer to each keyword is taken from a control citizen on the same bot
(`answers_by_keyword`), not written into the test.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any

import aiohttp

from bot.sandbox.fake_line import FakeLine
from bot.sandbox.line_webhook import text_event
from storage import Database
from tests.harness import post_events, start_serve, wait_for

KEYWORDS = ("ヘルプ", "開館時間", "場所", "電話番号", "駐車場")
# The keyword answers need the center's contact details.
CENTER = """
[center]
phone = "045-000-0000"
address = "横浜市中区本町6-50-10"
hours = "9:00〜21:30"
"""
CONTROL = "U_CONTROL"

Event = dict[str, Any]


def citizens(line: FakeLine, count: int, prefix: str) -> dict[str, list[Event]]:
    """`count` citizens, each with the five keywords in their own rotation, each event with a fresh
    reply token."""
    users = [f"U_{prefix}_{i:03d}" for i in range(count)]
    return {
        user: [
            text_event(user, KEYWORDS[(i + k) % len(KEYWORDS)], reply_token=line.issue_reply_token(user))
            for k in range(len(KEYWORDS))
        ]
        for i, user in enumerate(users)
    }


def typing_ahead(
    line: FakeLine, window: int, until: Callable[[], bool]
) -> Callable[[str, int], Awaitable[None]]:
    """The `pace` of a citizen who types ahead of the answers, but only so far: their k-th message
    (0-based) waits until at least k - window + 1 messages reached them (or `until()`, the end of the
    burst). So a burst cannot end before answers flow."""
    counts: Counter[str] = Counter()
    refreshed = -1.0

    def received(user: str) -> int:
        nonlocal refreshed
        # One count of everything LINE accepted serves every waiting citizen for a few ms.
        if time.monotonic() - refreshed > 0.005:
            counts.clear()
            counts.update(str(m.to) for m in line.sent_messages())
            refreshed = time.monotonic()
        return counts[user]

    async def pace(user: str, k: int) -> None:
        await wait_for(lambda: until() or received(user) >= k - window + 1, within=60)

    return pace


def texts(line: FakeLine, user: str) -> list[str]:
    """Every message LINE accepted for the citizen, in order, as its text (or alt text)."""
    return [str(m.message.get("text") or m.message.get("altText")) for m in line.sent_messages(user)]


def typed(event: Event) -> str:
    return str(event["message"]["text"])


async def answers_by_keyword(address: str, line: FakeLine) -> dict[str, list[str]]:
    """What the bot answers to each keyword: one control citizen types them one by one."""
    answers: dict[str, list[str]] = {}
    async with aiohttp.ClientSession() as session:
        for keyword in KEYWORDS:
            before = len(line.sent_messages(CONTROL))
            token = line.issue_reply_token(CONTROL)
            status, _ = await post_events(
                address, [text_event(CONTROL, keyword, reply_token=token)], session=session
            )
            assert status == 200

            def replied(token: str = token) -> bool:
                return any(
                    r.status == 200 and (r.json or {}).get("replyToken") == token
                    for r in line.find_requests(path="/v2/bot/message/reply")
                )

            await wait_for(replied, within=30)
            answers[keyword] = texts(line, CONTROL)[before:]
    assert len({tuple(a) for a in answers.values()}) == len(KEYWORDS), answers  # told apart
    return answers


def expected(events: Mapping[str, Sequence[Event]], answers: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """Every event answered once, in the order the citizen wrote."""
    return {user: [t for event in evs for t in answers[typed(event)]] for user, evs in events.items()}


def all_answered(
    line: FakeLine, events: Mapping[str, Sequence[Event]], answers: Mapping[str, list[str]]
) -> bool:
    """At least as many messages reached each citizen as the answers to all their events hold."""
    return all(len(line.sent_messages(user)) >= len(w) for user, w in expected(events, answers).items())


def wrongly_answered(
    line: FakeLine, events: Mapping[str, Sequence[Event]], answers: Mapping[str, list[str]]
) -> dict[str, list[str]]:
    """The citizens whose messages are not exactly their answers in order, with what they got."""
    want = expected(events, answers)
    return {user: texts(line, user) for user in events if texts(line, user) != want[user]}


def integrity(path: Path) -> str:
    """`PRAGMA integrity_check` of the database file ("ok" when sound), from a connection of its own."""
    with closing(sqlite3.connect(path)) as conn:
        return "; ".join(str(row[0]) for row in conn.execute("PRAGMA integrity_check"))


async def settle(path: Path) -> None:
    """Wait until no outgoing row is pending; then nothing failed for good or went dead."""
    db = await Database.open(path, migrate=False)
    try:

        async def delivered() -> bool:
            return await db.read.outbox.count("pending") == 0

        await wait_for(delivered, within=60)
        assert await db.read.inbox.count("pending") == 0
        assert await db.read.inbox.count("failed") == 0
        assert await db.read.outbox.count("dead") == 0
        assert await db.read.outbox.count("failed") == 0
    finally:
        await db.close()


def every_head_tried(path: Path, channel: str, times: int, keys: int) -> bool:
    """Rows of `channel` wait under at least `keys` order keys, and the first waiting row of each key
    (the one being delivered) has been tried at least `times` times: that many retry rounds of the
    outage have passed."""
    with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as conn:
        heads, short = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE o.attempts < ?) FROM outbox o JOIN"
            " (SELECT min(id) AS id FROM outbox WHERE status = 'pending' AND channel = ? GROUP BY order_key) h"
            " ON o.id = h.id",
            (times, channel),
        ).fetchone()
    return bool(heads >= keys and not short)


@asynccontextmanager
async def serve_logged(config: Path) -> AsyncIterator[tuple[str, list[str]]]:
    """`madoguchi serve` as a real process, its log read as it comes (a drill logs more than a pipe
    holds) and kept; stopped with SIGTERM, which it must survive with exit status 0."""
    process, address, lines = await start_serve(config)
    assert process.stderr is not None
    stream = process.stderr

    async def keep_reading() -> None:
        while raw := await stream.readline():
            lines.append(raw.decode(errors="replace"))

    reading = asyncio.create_task(keep_reading())
    try:
        yield address, lines
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(process.wait(), 15) == 0
        await reading
