"""Build and sign LINE webhook requests exactly as LINE sends them.

Events are plain dicts in LINE's JSON shape, so tests can tweak any field
(``event["mode"] = "standby"``, ``event["deliveryContext"]["isRedelivery"] = True``)
before ``webhook_body`` serialises them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from typing import Any

import aiohttp

from bot.sandbox.loopback import post, wire_json

__all__ = [
    "file_event",
    "follow_event",
    "image_event",
    "join_event",
    "leave_event",
    "location_event",
    "new_event_id",
    "new_image_set_id",
    "post_webhook",
    "postback_event",
    "sign",
    "signed_headers",
    "sticker_event",
    "text_event",
    "unfollow_event",
    "webhook_body",
]

Event = dict[str, Any]

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def sign(channel_secret: str, body: bytes) -> str:
    """``X-Line-Signature``: base64 HMAC-SHA256 of the raw body, keyed by the channel secret."""
    digest = hmac.new(channel_secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signed_headers(channel_secret: str, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json; charset=utf-8",
        "X-Line-Signature": sign(channel_secret, body),
    }


def webhook_body(events: list[Event], destination: str = "Uxxxxxxxx") -> bytes:
    """Compact UTF-8 JSON, as LINE sends it (half an emoji as a ``\\ud83d`` escape: `wire_json`).
    ``[]`` is a verification request."""
    return wire_json({"destination": destination, "events": events}).encode("utf-8")


def new_event_id() -> str:
    """A ULID (26 Crockford base32 chars: 48-bit ms time + 80 random bits), as LINE uses."""
    value = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def new_image_set_id() -> str:
    """An image set's id as LINE writes it: 64 upper-case hex digits."""
    return secrets.token_hex(32).upper()


def _message_id() -> str:
    return str(secrets.randbelow(9 * 10**17) + 10**17)


def _reply_token(reply_token: str | None) -> str:
    return reply_token if reply_token is not None else secrets.token_hex(16)


def _source(user_id: str | None, group_id: str | None) -> dict[str, str]:
    if group_id is None:
        return {"type": "user", "userId": user_id or ""}
    source = {"type": "group", "groupId": group_id}
    if user_id is not None:
        source["userId"] = user_id
    return source


def _event(kind: str, source: dict[str, str], reply_token: str | None = None, **fields: Any) -> Event:
    event: Event = {
        "type": kind,
        **fields,
        "webhookEventId": new_event_id(),
        "deliveryContext": {"isRedelivery": False},
        "timestamp": int(time.time() * 1000),
        "source": source,
        "mode": "active",
    }
    if reply_token is not None:
        event["replyToken"] = reply_token
    return event


def _message_event(
    user_id: str, message: dict[str, Any], reply_token: str | None, group_id: str | None
) -> Event:
    content = {"id": _message_id(), **message}
    return _event("message", _source(user_id, group_id), _reply_token(reply_token), message=content)


def text_event(
    user_id: str, text: str, reply_token: str | None = None, *, group_id: str | None = None
) -> Event:
    message = {"type": "text", "quoteToken": secrets.token_urlsafe(24), "text": text}
    return _message_event(user_id, message, reply_token, group_id)


def sticker_event(
    user_id: str,
    package_id: str = "446",
    sticker_id: str = "1988",
    reply_token: str | None = None,
    *,
    group_id: str | None = None,
) -> Event:
    message = {
        "type": "sticker",
        "quoteToken": secrets.token_urlsafe(24),
        "packageId": package_id,
        "stickerId": sticker_id,
        "stickerResourceType": "STATIC",
    }
    return _message_event(user_id, message, reply_token, group_id)


def image_event(
    user_id: str,
    message_id: str | None = None,
    reply_token: str | None = None,
    *,
    group_id: str | None = None,
    image_set: tuple[str, int, int] | None = None,
) -> Event:
    """An image sent in LINE; fetch it with ``FakeLine.set_content(message_id, ...)`` registered.

    ``image_set`` is (id, index, total) for one of several images sent at once: LINE sends each as an
    event of its own (index from 1), in separate webhooks and any order; a single image has none."""
    message: dict[str, Any] = {
        "type": "image",
        "quoteToken": secrets.token_urlsafe(24),
        "contentProvider": {"type": "line"},
    }
    if image_set is not None:
        set_id, index, total = image_set
        message["imageSet"] = {"id": set_id, "index": index, "total": total}
    event = _message_event(user_id, message, reply_token, group_id)
    if message_id is not None:
        event["message"]["id"] = message_id
    return event


def file_event(
    user_id: str,
    file_name: str = "document.pdf",
    file_size: int = 2048,
    message_id: str | None = None,
    reply_token: str | None = None,
    *,
    group_id: str | None = None,
) -> Event:
    message = {"type": "file", "fileName": file_name, "fileSize": file_size}
    event = _message_event(user_id, message, reply_token, group_id)
    if message_id is not None:
        event["message"]["id"] = message_id
    return event


def location_event(
    user_id: str,
    latitude: float = 35.4437,
    longitude: float = 139.638,
    title: str | None = None,
    address: str | None = None,
    reply_token: str | None = None,
    *,
    group_id: str | None = None,
) -> Event:
    message: dict[str, Any] = {"type": "location", "latitude": latitude, "longitude": longitude}
    if title is not None:
        message["title"] = title
    if address is not None:
        message["address"] = address
    return _message_event(user_id, message, reply_token, group_id)


def postback_event(
    user_id: str,
    data: str,
    reply_token: str | None = None,
    *,
    params: dict[str, str] | None = None,
    group_id: str | None = None,
) -> Event:
    postback: dict[str, Any] = {"data": data}
    if params is not None:
        postback["params"] = params
    return _event("postback", _source(user_id, group_id), _reply_token(reply_token), postback=postback)


def follow_event(user_id: str, reply_token: str | None = None, *, unblocked: bool = False) -> Event:
    return _event(
        "follow",
        _source(user_id, None),
        _reply_token(reply_token),
        follow={"isUnblocked": unblocked},
    )


def unfollow_event(user_id: str) -> Event:
    # LINE sends no reply token with unfollow or leave: nobody is left to answer.
    return _event("unfollow", _source(user_id, None))


def unsend_event(user_id: str, message_id: str) -> Event:
    # 送信取消: LINE names the message withdrawn, never its content, and sends no reply token.
    return _event("unsend", _source(user_id, None), unsend={"messageId": message_id})


def join_event(group_id: str, reply_token: str | None = None) -> Event:
    return _event("join", _source(None, group_id), _reply_token(reply_token))


def leave_event(group_id: str) -> Event:
    return _event("leave", _source(None, group_id))


async def post_webhook(
    url: str,
    channel_secret: str,
    events: list[Event],
    *,
    session: aiohttp.ClientSession | None = None,
    destination: str = "Uxxxxxxxx",
) -> tuple[int, str]:
    """POST a signed webhook to ``url``; returns (status, response text)."""
    body = webhook_body(events, destination)
    return await post(url, body, signed_headers(channel_secret, body), session)
