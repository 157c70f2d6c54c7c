"""A webhook event as the SDK's model, the common shapes without the SDK's validation pass.

`Event.from_dict` validates every field of every nested model through pydantic: about 60 µs for a
citizen's text message, 6 % of what an event costs end to end (docs/performance.md). A text message
or a plain postback from a user is checked here field by field against what the SDK's models
require (the same types, the same strictness) and built with `construct`, in a third of that time.
Anything else, or anything not exactly as expected (an emoji list, a mention, a postback with
params, a wrong type anywhere), goes to `Event.from_dict`, which accepts or refuses it as before.
tests/line/test_event_parse.py compares the two over thousands of shapes, hostile ones included.
"""

from __future__ import annotations

from typing import Any

from linebot.v3.webhooks import (
    DeliveryContext,
    Event,
    EventMode,
    MessageEvent,
    PostbackContent,
    PostbackEvent,
    TextMessageContent,
    UserSource,
)


def parse_event(raw: Any) -> Event:
    """The SDK's model of one event; raises what `Event.from_dict` raises for what it refuses."""
    event = _common(raw)
    return event if event is not None else Event.from_dict(raw)


def _common(raw: Any) -> Event | None:
    """The event built without validation when it is a common shape checked here; else None."""
    if not isinstance(raw, dict):
        return None
    kind = raw.get("type")
    if kind != "message" and kind != "postback":
        return None
    source = raw.get("source")
    timestamp = raw.get("timestamp")
    event_id = raw.get("webhookEventId")
    delivery = raw.get("deliveryContext")
    reply_token = raw.get("replyToken")
    if not (
        isinstance(source, dict)
        and source.get("type") == "user"
        and type(source.get("userId")) is str
        and type(timestamp) is int
        and raw.get("mode") == "active"
        and type(event_id) is str
        and isinstance(delivery, dict)
        and type(delivery.get("isRedelivery")) is bool
        and (reply_token is None or type(reply_token) is str)
    ):
        return None
    common: dict[str, Any] = {
        "type": kind,
        "source": UserSource.construct(type="user", user_id=source["userId"]),
        "timestamp": timestamp,
        "mode": EventMode.ACTIVE,
        "webhook_event_id": event_id,
        "delivery_context": DeliveryContext.construct(is_redelivery=delivery["isRedelivery"]),
        "reply_token": reply_token,
    }
    if kind == "message":
        text = _text(raw.get("message"))
        return None if text is None else MessageEvent.construct(message=text, **common)
    postback = raw.get("postback")
    if not (
        isinstance(postback, dict) and type(postback.get("data")) is str and postback.get("params") is None
    ):
        return None
    return PostbackEvent.construct(
        postback=PostbackContent.construct(data=postback["data"], params=None), **common
    )


def _text(message: Any) -> TextMessageContent | None:
    if not (
        isinstance(message, dict)
        and message.get("type") == "text"
        and type(message.get("id")) is str
        and type(message.get("text")) is str
        and type(message.get("quoteToken")) is str
        and message.get("emojis") is None
        and message.get("mention") is None
        and _optional_str(message.get("quotedMessageId"))
        and _optional_str(message.get("markAsReadToken"))
    ):
        return None
    return TextMessageContent.construct(
        type="text",
        id=message["id"],
        text=message["text"],
        emojis=None,
        mention=None,
        quote_token=message["quoteToken"],
        quoted_message_id=message.get("quotedMessageId"),
        mark_as_read_token=message.get("markAsReadToken"),
    )


def _optional_str(value: Any) -> bool:
    return value is None or type(value) is str
