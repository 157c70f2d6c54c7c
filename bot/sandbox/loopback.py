"""What the fake platforms share: an aiohttp server on 127.0.0.1 (port 0) that sends every request to
one handler, started and stopped with `async with`."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

import aiohttp
from aiohttp import web


class LoopbackServer:
    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None
        # Set on close, so handlers holding a request (a simulated timeout) let go at once.
        self._closing = asyncio.Event()
        self._port = 0
        self.hang_seconds = 30.0

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raise NotImplementedError

    @staticmethod
    def _drop(request: web.Request) -> web.Response:
        """Close the connection unanswered: aiohttp then skips the write quietly and the client sees
        the connection end with no response."""
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=500)

    async def _hang(self) -> None:
        """Hold a request for `hang_seconds`, or until the server closes."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), self.hang_seconds)

    async def start(self) -> None:
        self._closing.clear()
        app = web.Application(client_max_size=10 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # A short shutdown timeout: close() must never wait for aiohttp's default 60 s.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = int(self._runner.addresses[0][1])

    async def close(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        if not self._port:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return f"http://127.0.0.1:{self._port}"


async def post(
    url: str, body: bytes, headers: Mapping[str, str], session: aiohttp.ClientSession | None = None
) -> tuple[int, str]:
    """POST a raw body as a platform would; returns (status, response text)."""
    client = aiohttp.ClientSession() if session is None else session
    try:
        async with client.post(url, data=body, headers=dict(headers)) as response:
            return response.status, await response.text()
    finally:
        if session is None:
            await client.close()


def wire_json(payload: Any) -> str:
    """JSON as the platforms send it: compact, characters as they are, except a lone surrogate (half
    an emoji in a name or a message), which only a `\\ud83d` escape can carry."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    try:
        text.encode()
    except UnicodeEncodeError:
        return json.dumps(payload, separators=(",", ":"))
    return text
