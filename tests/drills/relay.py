"""A platform that goes down and comes back: a loopback relay in front of a fake, with an outage switch.

The bot's `api_base_url` points at the relay, which passes every request on to the fake (LINE or
Slack) untouched, until the test takes it down: then it refuses connections (its port closed, as a
host that is down), or answers every request with one error (LINE's 500, Slack's 429 with
Retry-After), until the test brings it back on the same port. What it answered while down is kept.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from types import TracebackType
from typing import Self

import aiohttp
from aiohttp import web

# Hop-by-hop and framing headers: the relay's own server and client set these.
_NOT_PASSED = frozenset({"host", "content-length", "transfer-encoding", "connection", "content-encoding"})


@dataclass(frozen=True)
class Refusal:
    """A request the relay failed while down: when (monotonic), its path and body, the status given."""

    at: float
    path: str
    body: bytes
    status: int


@dataclass(frozen=True)
class Failure:
    """An answer the relay gives to every request while down."""

    status: int
    body: str
    headers: tuple[tuple[str, str], ...] = ()


LINE_500 = Failure(500, '{"message":"Internal server error"}')


def slack_429(retry_after: int) -> Failure:
    return Failure(429, '{"ok":false,"error":"ratelimited"}', (("Retry-After", str(retry_after)),))


class Relay:
    def __init__(self, upstream: str) -> None:
        self._upstream = upstream.rstrip("/")
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._port = 0
        self._failure: Failure | None = None
        self.refusals: list[Refusal] = []
        self.passed = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession()
        await self._listen()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._close_port()
        if self._session is not None:
            await self._session.close()

    async def refuse_connections(self) -> None:
        """Down: the port is closed; open connections are cut."""
        await self._close_port()

    async def fail_everything(self, failure: Failure) -> None:
        """Down: every request gets `failure` (the port is open)."""
        self._failure = failure
        await self._listen()

    async def restore(self) -> None:
        """Back: requests reach the fake again."""
        self._failure = None
        await self._listen()

    async def _listen(self) -> None:
        if self._runner is not None:
            return
        app = web.Application(client_max_size=10 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await runner.setup()
        # The same port when coming back: the bot's configuration names it.
        await web.TCPSite(runner, "127.0.0.1", self._port, reuse_address=True).start()
        self._port = int(runner.addresses[0][1])
        self._runner = runner

    async def _close_port(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        failure = self._failure
        if failure is not None:
            self.refusals.append(Refusal(time.monotonic(), request.path, body, failure.status))
            return web.Response(
                status=failure.status,
                text=failure.body,
                content_type="application/json",
                headers=dict(failure.headers),
            )
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _NOT_PASSED}
        async with self._session.request(
            request.method, self._upstream + request.path_qs, data=body, headers=headers
        ) as answer:
            payload = await answer.read()
            self.passed += 1
            passed = {k: v for k, v in answer.headers.items() if k.lower() not in _NOT_PASSED}
            return web.Response(status=answer.status, body=payload, headers=passed)
