"""POST /line/webhook: verify, store in the inbox, answer 200. Nothing else happens in the request.

The signature is checked on the raw body before anything is parsed, so a forged request has no side
effect at all. A redelivered event is deduplicated by its webhookEventId when it is stored.

Whatever a signed body carries can cost only its own request: JSON nested past the parser's limit is
a 400, and a lone surrogate (a `\\ud800` escape, valid JSON but not storable as UTF-8) is stored as
U+FFFD, so it can never fail the commit it shares with other citizens' webhooks.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web
from linebot.v3 import SignatureValidator

from bot.ingest import Ingest
from bot.logs import fields
from bot.request_body import read_body
from bot.text_input import storable
from storage.inbox import IncomingEvent

log = logging.getLogger("madoguchi.line.webhook")


# After json.loads, valid surrogate pairs are already joined: any surrogate left is a lone one.
class LineWebhook:
    def __init__(
        self, channel_secret: str, ingest: Ingest, max_body_bytes: int, body_timeout_seconds: float = 10.0
    ) -> None:
        self._validator = SignatureValidator(channel_secret)
        self._ingest = ingest
        self._max_body_bytes = max_body_bytes
        self._body_timeout = body_timeout_seconds

    async def handle(self, request: web.Request) -> web.Response:
        raw = await read_body(request, self._max_body_bytes, self._body_timeout, _refuse)
        if isinstance(raw, web.Response):
            return raw
        signature = request.headers.get("X-Line-Signature", "")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return _refuse(400, "body is not UTF-8")
        if not signature or not self._validator.validate(text, signature):
            return _refuse(401, "invalid signature")
        try:
            events = _incoming(json.loads(text))
        except (ValueError, TypeError, KeyError, RecursionError) as exc:
            return _refuse(400, f"malformed body: {type(exc).__name__}")
        try:
            added = await self._ingest.store(events)
        except Exception as exc:
            # Logged without the body by the ingest writer; LINE redelivers after a 500.
            log.error("line.webhook.not_stored", extra=fields(events=len(events), error=type(exc).__name__))
            return web.json_response({"message": "could not store the events"}, status=500)
        log.debug("line.webhook.stored", extra=fields(events=len(events), new=added))
        return web.json_response({})


def _refuse(status: int, reason: str) -> web.Response:
    log.warning("line.webhook.refused", extra=fields(status=status, reason=reason))
    return web.json_response({"message": reason}, status=status)


def _incoming(body: Any) -> list[IncomingEvent]:
    """The events worth storing; standby events belong to another channel's module and are skipped."""
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        raise ValueError("no events list")
    stored: list[IncomingEvent] = []
    for event in body["events"]:
        if not isinstance(event, dict):
            raise TypeError("event is not an object")
        if event.get("mode") == "standby":
            continue
        event_id = event["webhookEventId"]
        if not isinstance(event_id, str) or not event_id:
            raise ValueError("bad webhookEventId")
        source = event.get("source")
        stored.append(
            IncomingEvent(
                source="line",
                event_id=storable(event_id),
                order_key=storable(order_key(source if isinstance(source, dict) else {})),
                payload=storable(json.dumps(event, ensure_ascii=False, separators=(",", ":"))),
            )
        )
    return stored


def order_key(source: dict[str, Any]) -> str:
    """Events of one chat are handled in order: a user, or a group or room (for ward centers)."""
    for kind in ("groupId", "roomId", "userId"):
        if source.get(kind) and isinstance(source[kind], str):
            return f"line:{source[kind]}"
    return "line:unknown"
