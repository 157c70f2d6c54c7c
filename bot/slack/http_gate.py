"""POST /slack/events in HTTP mode: bounded, verified, decoded and shape-checked before Bolt sees it.

Bolt's aiohttp adapter parses the body before its middleware verifies the signature, so unsigned
garbage (bad JSON, `[1]`, deep nesting, bytes that are not UTF-8) used to end in a 500 with a
traceback, and its verification failure log line carried the whole request body. Here the order is:
size bound, raw bytes, `X-Slack-Request-Timestamp` an integer within 300 s, the `v0=` HMAC-SHA256
signature of `v0:{timestamp}:{raw body}`; only then UTF-8 and a parse, with Bolt's rules, that must
give an object. Every refusal is one short log line with a reason and never the body. Bolt's own
verification is then switched off (it would only repeat ours and log bodies).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.logs import fields
from bot.request_body import read_body

log = logging.getLogger("madoguchi.slack.http")

MAX_CLOCK_SKEW_SECONDS = 300  # Slack's rule: older (or newer) requests may be replays
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
# What a payload's shape errors raise inside Bolt's parsing and context building.
SHAPE_ERRORS = (ValueError, TypeError, AttributeError, KeyError, IndexError, RecursionError)


class SlackHttpGate:
    def __init__(
        self,
        signing_secret: str,
        max_body_bytes: int,
        body_timeout_seconds: float = 10.0,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._secret = signing_secret.encode("utf-8")
        self._max_body_bytes = max_body_bytes
        self._body_timeout = body_timeout_seconds
        self._now = now

    async def handle(
        self, request: web.Request, dispatch: Callable[[AsyncBoltRequest], Awaitable[BoltResponse]]
    ) -> web.Response:
        """Admit the request, then let Bolt (`dispatch`) handle it. A payload of an odd shape can
        still trip Bolt itself (its error handler reads the payload again): a 400, never a 500."""
        admitted = await self.admit(request)
        if isinstance(admitted, web.Response):
            return admitted
        try:
            response = await dispatch(admitted)
        except SHAPE_ERRORS as exc:
            return _refuse(400, f"malformed payload: {type(exc).__name__}")
        return await to_aiohttp_response(response)

    async def admit(self, request: web.Request) -> AsyncBoltRequest | web.Response:
        """The request for Bolt, or the answer that refuses it."""
        raw = await read_body(request, self._max_body_bytes, self._body_timeout, _refuse)
        if isinstance(raw, web.Response):
            return raw
        reason = self.unverified(raw, request.headers.get("X-Slack-Request-Timestamp"),
                                 request.headers.get("X-Slack-Signature"))  # fmt: skip
        if reason is not None:
            return _refuse(401, reason)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return _refuse(400, "body is not UTF-8")
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        try:
            if not isinstance(parse_like_bolt(text, content_type), dict):
                return _refuse(400, "body is not an object")
            return AsyncBoltRequest(body=text, query=request.query_string, headers=dict(request.headers))
        except SHAPE_ERRORS as exc:
            return _refuse(400, f"malformed body: {type(exc).__name__}")

    def unverified(self, raw: bytes, timestamp: str | None, signature: str | None) -> str | None:
        """Why the request is not Slack's (None when it is): checked on the raw bytes."""
        if not self._secret:
            return "no signing secret configured"
        if not timestamp or not _TIMESTAMP.fullmatch(timestamp):
            return "missing or malformed timestamp"
        if abs(self._now() - int(timestamp)) > MAX_CLOCK_SKEW_SECONDS:
            return "stale timestamp"
        if not signature or not _SIGNATURE.fullmatch(signature):
            return "missing or malformed signature"
        base = b"v0:" + timestamp.encode("ascii") + b":" + raw
        expected = "v0=" + hmac.new(self._secret, base, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            return "bad signature"
        return None


def parse_like_bolt(text: str, content_type: str) -> Any:
    """The body as Bolt will read it: JSON (Events API), or a form whose `payload` field is JSON
    (interactivity), or a flat form (slash commands)."""
    if not text:
        return {}
    if content_type == "application/json" or text.startswith("{"):
        return json.loads(text)
    if "payload" in text:
        payload = dict(parse_qsl(text, keep_blank_values=True)).get("payload")
        return {} if payload is None else json.loads(payload)
    return dict(parse_qsl(text, keep_blank_values=True))


def _refuse(status: int, reason: str) -> web.Response:
    log.warning("slack.http.refused", extra=fields(status=status, reason=reason))
    return web.json_response({"error": reason}, status=status)


async def on_error(error: Exception) -> BoltResponse:
    """Bolt's handler for what a listener or middleware raised.

    A signed payload of an unexpected shape (a missing field, a value that is not a number, broken
    `private_metadata`) is Slack's or a forger's mistake: 400 and one line saying where, without
    the payload or the exception's message (both may quote what someone wrote). Anything else is
    ours: 500 and the traceback (bot/logs.py keeps messages out of it).
    """
    if isinstance(error, SHAPE_ERRORS):
        where = traceback.extract_tb(error.__traceback__)[-1:] if error.__traceback__ else []
        at = f"{where[0].filename.rsplit('/', 1)[-1]}:{where[0].lineno}" if where else "?"
        log.warning("slack.http.malformed_payload", extra=fields(error=type(error).__name__, at=at))
        return BoltResponse(status=400, body="")
    log.error("slack.listener_failed", exc_info=error)
    return BoltResponse(status=500, body="")
