"""Socket Mode: Slack events over a websocket the bot opens, so no public URL is needed.

Connecting is retried in the background with backoff: a Slack outage or a wrong app token is logged
and does not stop the LINE side from working.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

import aiohttp
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.logs import fields

log = logging.getLogger("madoguchi.slack.socket")


class SocketMode:
    def __init__(
        self,
        app: AsyncApp,
        app_token: str,
        client: AsyncWebClient,
        session: aiohttp.ClientSession,
        on_down: Callable[[int], Awaitable[None]] | None = None,
        down_after_seconds: float = 300.0,
    ) -> None:
        self._handler = AsyncSocketModeHandler(app, app_token, web_client=client)
        # The websocket goes the way `session` routes it (bot/slack/route.py): the SDK's own session
        # would take HTTPS_PROXY even for a host NO_PROXY names.
        self._session = session
        self._task: asyncio.Task[None] | None = None
        self._on_down = on_down
        self._down_after = down_after_seconds
        self._down_since: float | None = time.monotonic()

    async def check(self) -> None:
        """Called every minute: tell `on_down` once the connection has been down too long."""
        if await self._connected():
            self._down_since = None
            return
        now = time.monotonic()
        if self._down_since is None:
            self._down_since = now
            log.warning("slack.socket_down")
        if now - self._down_since >= self._down_after and self._on_down is not None:
            await self._on_down(int((now - self._down_since) // 60))

    async def _connected(self) -> bool:
        if self._task is None or not self._task.done() or self._task.cancelled():
            return False  # still trying to connect for the first time
        try:
            return bool(await self._handler.client.is_connected())
        except Exception:
            return False

    def start(self) -> None:
        self._task = asyncio.create_task(self._connect(), name="slack-socket-mode")

    async def _connect(self) -> None:
        delay = 1.0
        while True:
            try:
                # The SDK's connect() swallows failures and retries every 10 s on its own, with a
                # traceback; asking for the URL ourselves raises on a bad token or an outage.
                client = self._handler.client
                if client.aiohttp_client_session is not self._session:
                    await client.aiohttp_client_session.close()  # the SDK's own, never used
                    client.aiohttp_client_session = self._session
                client.wss_uri = await client.issue_new_wss_url()
                await asyncio.wait_for(self._handler.connect_async(), timeout=30)  # type: ignore[no-untyped-call]
                log.info("slack.socket_connected")
                return
            except Exception as exc:
                log.warning(
                    "slack.socket_connect_failed", extra=fields(error=type(exc).__name__, retry_in=delay)
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 300.0)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self._handler.close_async()  # type: ignore[no-untyped-call]
        await self._session.close()  # when stopped before the first attempt swapped it in
