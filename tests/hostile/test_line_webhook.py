"""Hostile input at POST /line/webhook: each input costs only its own request, and the log stays clean."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from bot.clock import utc_now
from bot.ingest import Ingest
from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.line_webhook import signed_headers, text_event, webhook_body
from storage import Database
from storage.inbox import IncomingEvent
from tests.harness import LINE_SECRET, post_events, post_raw, settings_for, wait_for
from tests.hostile.conftest import MARKER, ServerLog


async def healthy(bot: Runtime) -> bool:
    async with aiohttp.ClientSession() as session, session.get(f"{bot.base_url}/healthz") as response:
        return response.status == 200


def surrogate_body(user_id: str, reply_token: str) -> bytes:
    """A signed-able body whose text carries a lone surrogate escape: valid JSON, not storable UTF-8."""
    body = webhook_body([text_event(user_id, "SURROGATE-HERE", reply_token=reply_token)])
    return body.replace(b"SURROGATE-HERE", b"x \\ud800 y")


async def test_a_lone_surrogate_costs_nobody_else_their_answer(
    bot: Runtime, line: FakeLine, server_log: ServerLog
) -> None:
    users = [f"U_CITIZEN_{i:02d}" for i in range(40)]
    bad_body = surrogate_body("U_SURROGATE", line.issue_reply_token("U_SURROGATE"))
    async with aiohttp.ClientSession() as session:
        good = [
            post_events(
                bot.base_url,
                [text_event(u, "ヘルプ", reply_token=line.issue_reply_token(u))],
                session=session,
            )
            for u in users
        ]
        # The bad one goes in the middle, so it shares a group commit with the others.
        bad = post_raw(bot.base_url, bad_body, signed_headers(LINE_SECRET, bad_body), session)
        results = await asyncio.gather(*good[:20], bad, *good[20:])
    assert [status for status, _ in results] == [200] * 41
    await wait_for(lambda: all(line.sent_messages(u) for u in [*users, "U_SURROGATE"]), within=20)
    assert all(m.kind == "reply" for u in users for m in line.sent_messages(u))
    # Stored in a safe form (U+FFFD where the lone surrogate was) and handled like any other message.
    [item] = await bot.db.read.inbox.for_key("line:U_SURROGATE")
    assert item.status == "done"
    assert await bot.db.read.inbox.count("failed") == 0
    assert await healthy(bot)
    server_log.assert_clean()


async def test_a_batch_that_fails_is_retried_request_by_request(tmp_path: Path) -> None:
    """Below the webhook's own sanitising: whatever fails a shared commit fails only its request."""
    db = await Database.open(tmp_path / "ingest.sqlite3")
    ingest = Ingest(db, utc_now)
    ingest.start()
    try:
        good = [[IncomingEvent("line", f"ev-{i}", f"line:U{i}", "{}")] for i in range(30)]
        culprit = [IncomingEvent("line", "ev-bad", "line:UBAD", '{"text":"\ud800"}')]
        results = await asyncio.gather(
            *[ingest.store(batch) for batch in good[:15]],
            ingest.store(culprit),
            *[ingest.store(batch) for batch in good[15:]],
            return_exceptions=True,
        )
        assert results[15].__class__ is UnicodeEncodeError
        assert results[:15] + results[16:] == [1] * 30
        assert len(await db.read.inbox.pending()) == 30
    finally:
        await ingest.stop()
        await db.close()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"[" * 30_000 + b"]" * 30_000, id="nested-arrays"),
        pytest.param(b'{"events":' + b'{"a":' * 10_000 + b"1" + b"}" * 10_001, id="nested-objects"),
        pytest.param(b'{"events":[' + b"[" * 5000 + b"]" * 5000 + b"]}", id="nested-event"),
        pytest.param(b'{"events":[{"webhookEventId":7}]}', id="numeric-event-id"),
        pytest.param(b'{"events":[1]}', id="event-not-object"),
        pytest.param(b'{"events":"x"}', id="events-not-list"),
        pytest.param(b"[1]", id="top-level-list"),
        pytest.param(b"\xff\xfe{}", id="not-utf8"),
        pytest.param(b'{"events":[{"webhookEventId":"a","text":"' + MARKER.encode() + b'"', id="truncated"),
    ],
)
async def test_signed_malformed_bodies_are_refused_alone(
    bot: Runtime, line: FakeLine, server_log: ServerLog, body: bytes
) -> None:
    status, _ = await post_raw(bot.base_url, body, signed_headers(LINE_SECRET, body))
    assert status == 400
    assert await bot.db.read.inbox.pending() == []
    assert await healthy(bot)
    assert line.requests == []
    assert "level=error" not in server_log.text and "traceback=" not in server_log.text
    assert MARKER not in server_log.text


def _event_with(**changes: object) -> dict[str, object]:
    event = text_event("U_HANAKO", MARKER, reply_token="r" * 32)
    for path, value in changes.items():
        target: dict[str, object] = event
        *parents, leaf = path.split("__")
        for parent in parents:
            target = target[parent]  # type: ignore[assignment]
        if value is MISSING:
            del target[leaf]
        else:
            target[leaf] = value
    return event


MISSING = object()


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(_event_with(type="hologram"), id="unknown-event-type"),
        pytest.param(_event_with(message__type="hologram"), id="unknown-message-type"),
        pytest.param(_event_with(source__type="alien"), id="unknown-source-type"),
        pytest.param(_event_with(message__type=MARKER), id="marker-as-type"),
        pytest.param(_event_with(timestamp="yesterday"), id="bad-timestamp"),
        pytest.param(_event_with(message__type=MISSING), id="message-without-type"),
        pytest.param(_event_with(type=MISSING), id="event-without-type"),
    ],
)
async def test_events_the_sdk_does_not_know_are_skipped_quietly(
    bot: Runtime, line: FakeLine, server_log: ServerLog, event: dict[str, object]
) -> None:
    status, _ = await post_events(bot.base_url, [event])
    assert status == 200
    await wait_for(lambda: _count(bot, "done", 1))
    assert await bot.db.read.inbox.count("failed") == 0
    # The citizen's next message is answered as usual: nothing is stuck behind the odd one.
    token = line.issue_reply_token("U_HANAKO")
    assert (await post_events(bot.base_url, [text_event("U_HANAKO", "ヘルプ", reply_token=token)]))[0] == 200
    await wait_for(lambda: len(line.sent_messages("U_HANAKO")) > 0)
    assert await healthy(bot)
    server_log.assert_clean()


async def _count(bot: Runtime, status: str, expected: int) -> bool:
    return await bot.db.read.inbox.count(status) == expected  # type: ignore[arg-type]


async def test_slow_clients_are_cut_off(tmp_path: Path, line: FakeLine, server_log: ServerLog) -> None:
    settings = settings_for(tmp_path, line.base_url)
    server = settings.server.model_copy(update={"idle_timeout_seconds": 0.5, "body_timeout_seconds": 0.5})
    async with Runtime(settings.model_copy(update={"server": server})) as bot:
        host, port = bot.base_url.removeprefix("http://").split(":")
        streams = [await asyncio.open_connection(host, int(port)) for _ in range(50)]
        for _, writer in streams:  # headers begun, never finished
            writer.write(b"POST /line/webhook HTTP/1.1\r\nHost: x\r\n")
            await writer.drain()
        body_reader, body_writer = await asyncio.open_connection(host, int(port))
        body = webhook_body([text_event("U_HANAKO", MARKER)])
        head = (
            f"POST /line/webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"X-Line-Signature: {signed_headers(LINE_SECRET, body)['X-Line-Signature']}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        body_writer.write(head.encode() + body[:10])  # the body never completes
        started = datetime.now(UTC)
        closed = await asyncio.wait_for(asyncio.gather(*[r.read() for r, _ in streams]), timeout=10)
        assert all(data == b"" for data in closed)  # closed by the server, unanswered
        answer = await asyncio.wait_for(body_reader.read(), timeout=10)
        assert answer.startswith(b"HTTP/1.1 408")
        assert (datetime.now(UTC) - started).total_seconds() < 5
        for _, writer in [*streams, (body_reader, body_writer)]:
            writer.close()
        assert await bot.db.read.inbox.pending() == []
        assert await healthy(bot)
    server_log.assert_clean()


async def test_a_client_that_disconnects_mid_body_is_no_error(
    bot: Runtime, line: FakeLine, server_log: ServerLog
) -> None:
    host, port = bot.base_url.removeprefix("http://").split(":")
    body = webhook_body([text_event("U_HANAKO", MARKER)])
    for _ in range(5):
        _reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            b"POST /line/webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body[: len(body) // 2]
        )
        await writer.drain()
        writer.close()
        await writer.wait_closed()
    await asyncio.sleep(0.2)  # the server notices the disconnects
    assert await healthy(bot)
    assert await bot.db.read.inbox.pending() == []
    server_log.assert_clean()
