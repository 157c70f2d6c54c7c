"""POST /line/webhook: verify, store in the inbox, answer 200. Nothing else happens in the request.

The signature is checked on the raw body before anything is parsed, so a forged request has no side
effect at all. A redelivered event is deduplicated by its webhookEventId when it is stored.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web
from linebot.v3 import SignatureValidator

from bot.ingest import Ingest
from bot.logs import fields
from storage.inbox import IncomingEvent

log = logging.getLogger("madoguchi.line.webhook")


class LineWebhook:
    def __init__(self, channel_secret: str, ingest: Ingest, max_body_bytes: int) -> None:
        self._validator = SignatureValidator(channel_secret)
        self._ingest = ingest
        self._max_body_bytes = max_body_bytes

    async def handle(self, request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > self._max_body_bytes:
            return _refuse(413, "body too large")
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _refuse(413, "body too large")
        signature = request.headers.get("X-Line-Signature", "")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return _refuse(400, "body is not UTF-8")
        if not signature or not self._validator.validate(text, signature):
            return _refuse(401, "invalid signature")
        try:
            events = _incoming(json.loads(text))
        except (ValueError, TypeError, KeyError) as exc:
            return _refuse(400, f"malformed body: {type(exc).__name__}")
        added = await self._ingest.store(events)
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
        stored.append(
            IncomingEvent(
                source="line",
                event_id=event_id,
                order_key=order_key(event.get("source") or {}),
                payload=json.dumps(event, ensure_ascii=False, separators=(",", ":")),
            )
        )
    return stored


def order_key(source: dict[str, Any]) -> str:
    """Events of one chat are handled in order: a user, or a group or room (for ward centers)."""
    for kind in ("groupId", "roomId", "userId"):
        if source.get(kind):
            return f"line:{source[kind]}"
    return "line:unknown"
