"""Requests aiohttp cannot parse, sent raw as a scanner would, and what every answer says of the server.

aiohttp answers them 400 before any route sees them; the log gets one WARNING line with the status and
the error's type (docs/threat-model.md: a refusal is one short line), never an ERROR with a traceback
or the client's address. A failure of our own handlers stays an ERROR with its traceback. Every
answer, those 400s included, says `Server: madoguchi` and no version.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from bot.runtime import Runtime
from tests.harness import run_sql
from tests.hostile.conftest import MARKER, ServerLog

MALFORMED = [
    pytest.param(
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + MARKER.encode() + b"a" * 9000 + b"\r\n\r\n",
        "LineTooLong",
        id="header-over-8190-bytes",
    ),
    pytest.param(
        b"POST /line/webhook HTTP/1.1\r\nHost: x\r\nX-A\x01: "
        + MARKER.encode()
        + b"\r\nContent-Length: 0\r\n\r\n",
        "BadHttpMessage",
        id="control-character-in-header-name",
    ),
    pytest.param(
        b"POST /line/webhook HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
        "BadHttpMessage",
        id="bad-chunk-size",
    ),
]


def _address(bot: Runtime) -> tuple[str, int]:
    host, port = bot.base_url.removeprefix("http://").split(":")
    return host, int(port)


def _server_header(answer: bytes) -> bytes:
    head = answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    return next(line for line in head if line.lower().startswith(b"server:")).split(b":", 1)[1].strip()


def _refusals(log: ServerLog) -> list[str]:
    return [line for line in log.text.splitlines() if "event=server.refused" in line]


async def _healthy(bot: Runtime) -> bool:
    async with aiohttp.ClientSession() as session, session.get(f"{bot.base_url}/healthz") as response:
        return response.status == 200


@pytest.mark.parametrize(("request_bytes", "error"), MALFORMED)
async def test_a_request_aiohttp_cannot_parse_is_one_warning_line(
    bot: Runtime, server_log: ServerLog, request_bytes: bytes, error: str
) -> None:
    reader, writer = await asyncio.open_connection(*_address(bot))
    writer.write(request_bytes)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), timeout=10)
    writer.close()

    assert answer.split(b"\r\n")[0].endswith(b"400 Bad Request"), answer[:80]
    assert _server_header(answer) == b"madoguchi"
    [refusal] = _refusals(server_log)
    assert " level=warning logger=aiohttp.server " in refusal
    assert refusal.endswith(f"event=server.refused status=400 reason={error}"), refusal
    assert "127.0.0.1" not in server_log.text
    assert await _healthy(bot)
    server_log.assert_clean()


async def test_garbage_after_a_kept_alive_request_is_one_warning_line(
    bot: Runtime, server_log: ServerLog
) -> None:
    """aiohttp logs a bad method at DEBUG on a connection's first request only; on a later one, ERROR."""
    reader, writer = await asyncio.open_connection(*_address(bot))
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    first = await asyncio.wait_for(reader.readuntil(b"}"), timeout=10)
    assert first.startswith(b"HTTP/1.1 200")
    writer.write(b"\x16\x03\x01" + MARKER.encode() + b"\r\n\r\n")  # a TLS hello to the plain-HTTP port
    await writer.drain()
    second = await asyncio.wait_for(reader.read(), timeout=10)
    writer.close()

    assert b" 400 " in second.split(b"\r\n")[0], second[:80]
    assert _server_header(second) == b"madoguchi"
    [refusal] = _refusals(server_log)
    assert refusal.endswith("event=server.refused status=400 reason=BadHttpMethod"), refusal
    assert "127.0.0.1" not in server_log.text
    server_log.assert_clean()


async def test_a_failure_of_our_handler_stays_an_error_with_its_traceback(
    tmp_path: Path, bot: Runtime, server_log: ServerLog
) -> None:
    run_sql(tmp_path / "madoguchi.sqlite3", "DROP TABLE events")  # what /events.ics reads first
    async with aiohttp.ClientSession() as session, session.get(f"{bot.base_url}/events.ics") as response:
        assert response.status == 500
        assert response.headers["Server"] == "madoguchi"

    # (The reminder sweep, which reads the table too, may log its own failure meanwhile.)
    [failure] = [line for line in server_log.text.splitlines() if " logger=aiohttp.server " in line]
    assert (
        " level=error logger=aiohttp.server event=server.request_failed error=OperationalError traceback="
        in failure
    )
    assert "no such table: events" in failure
    assert "127.0.0.1" not in server_log.text
    assert not _refusals(server_log)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/healthz", 200),
        ("HEAD", "/healthz", 200),
        ("GET", "/metrics", 200),
        ("GET", "/events.ics", 200),
        ("POST", "/line/webhook", 401),
        ("GET", "/line/webhook", 405),
        ("GET", "/", 404),
    ],
)
async def test_every_answer_names_no_version(bot: Runtime, method: str, path: str, status: int) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method, f"{bot.base_url}{path}", data=b"{}" if method == "POST" else None
        ) as response,
    ):
        assert response.status == status
        assert response.headers.getall("Server") == ["madoguchi"]
