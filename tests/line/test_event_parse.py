"""bot/line/event_parse.py builds the same SDK model as `Event.from_dict`, and refuses what it refuses.

Every shape is compared: the event LINE sends for a text message and a postback, then each of its
fields removed or replaced by a value of another type, extra fields, emojis, mentions, postback
params, other event types and sources, and a seeded sample of two changes at once.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
from linebot.v3.webhooks import Event

from bot.line.event_parse import _common, parse_event

TEXT: dict[str, Any] = {
    "type": "message",
    "message": {
        "type": "text",
        "id": "468789577898262530",
        "quoteToken": "q3Plxr4AgKdXYZ",
        "text": "こんにちは、NPOの設立について相談したいです 😀",
    },
    "webhookEventId": "01H810YECXQQZ37VAXPF6H9E6T",
    "deliveryContext": {"isRedelivery": False},
    "timestamp": 1692251666727,
    "source": {"type": "user", "userId": "U4af4980629a0c4a4b2f1d7a0bc5e1234"},
    "replyToken": "38ef843bde154d9b91c21320ffd17a0f",
    "mode": "active",
}
POSTBACK: dict[str, Any] = {
    "type": "postback",
    "postback": {"data": "intake:category:npo"},
    "webhookEventId": "01H810YECXQQZ37VAXPF6H9E6U",
    "deliveryContext": {"isRedelivery": True},
    "timestamp": 1692251666728,
    "source": {"type": "user", "userId": "U4af4980629a0c4a4b2f1d7a0bc5e1234"},
    "replyToken": "38ef843bde154d9b91c21320ffd17a10",
    "mode": "active",
}
OTHERS: list[Any] = [
    {**TEXT, "source": {"type": "group", "groupId": "C1", "userId": "U1"}},
    {**TEXT, "source": {"type": "room", "roomId": "R1", "userId": "U1"}},
    {**TEXT, "mode": "standby"},
    {**TEXT, "message": {"type": "image", "id": "1", "contentProvider": {"type": "line"}, "quoteToken": "q"}},
    {
        **TEXT,
        "message": {
            "type": "sticker",
            "id": "1",
            "packageId": "1",
            "stickerId": "2",
            "stickerResourceType": "STATIC",
            "quoteToken": "q",
        },
    },
    {
        **TEXT,
        "message": {
            **TEXT["message"],
            "emojis": [{"index": 0, "length": 6, "productId": "p", "emojiId": "001"}],
        },
    },
    {**TEXT, "message": {**TEXT["message"], "emojis": [{"index": "0"}]}},
    {
        **TEXT,
        "message": {
            **TEXT["message"],
            "mention": {"mentionees": [{"index": 0, "length": 4, "type": "user", "userId": "U1"}]},
        },
    },
    {**TEXT, "message": {**TEXT["message"], "quotedMessageId": "4687", "markAsReadToken": "m"}},
    {**POSTBACK, "postback": {"data": "d", "params": {"datetime": "2026-12-01T10:00"}}},
    {**POSTBACK, "postback": {"data": "d", "params": {"datetime": 1}}},
    {**POSTBACK, "postback": {"data": "d", "params": None}},
    {
        "type": "follow",
        "follow": {"isUnblocked": False},
        **{
            k: TEXT[k]
            for k in ("webhookEventId", "deliveryContext", "timestamp", "source", "replyToken", "mode")
        },
    },
    {
        "type": "unfollow",
        **{k: TEXT[k] for k in ("webhookEventId", "deliveryContext", "timestamp", "source", "mode")},
    },
    {
        "type": "unsend",
        "unsend": {"messageId": "1"},
        **{k: TEXT[k] for k in ("webhookEventId", "deliveryContext", "timestamp", "source", "mode")},
    },
    {**TEXT, "type": "somethingNew"},
    {**TEXT, "source": None},
    {k: v for k, v in TEXT.items() if k != "source"},
    [],
    "message",
    None,
]
VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    2**70,
    1.5,
    "",
    "x",
    "active",
    "user",
    "text",
    "message",
    [],
    {},
    ["x"],
    {"type": "user"},
]
MISSING = object()


def paths(value: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield (*prefix, key)
            yield from paths(inner, (*prefix, key))


def changed(event: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(event)
    node = out
    for key in path[:-1]:
        node = node[key]
    if value is MISSING:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return out


def shapes() -> Iterator[Any]:
    for base in (TEXT, POSTBACK):
        yield base
        for path in paths(base):
            for value in [*VALUES, MISSING]:
                yield changed(base, path, value)
        for extra in ("extra", "unknown"):
            yield {**base, extra: {"x": 1}}
            inner = "message" if base is TEXT else "postback"
            yield {**base, inner: {**base[inner], extra: 1}}
            yield {**base, "source": {**base["source"], extra: 1}}
    yield from OTHERS
    rng = random.Random(14)
    for _ in range(3000):
        base = rng.choice((TEXT, POSTBACK))
        all_paths = list(paths(base))
        shape = base
        for _ in range(2):
            path = rng.choice(all_paths)
            try:
                shape = changed(shape, path, rng.choice([*VALUES, MISSING]))
            except (KeyError, TypeError):
                break  # the first change removed or replaced what the second would reach
        yield shape


def outcome(parse: Any, raw: Any) -> tuple[str, Any]:
    try:
        event = parse(raw)
    except Exception as exc:
        return "refused", type(exc)
    return "parsed", event


@pytest.mark.parametrize("base", [TEXT, POSTBACK], ids=["text", "postback"])
def test_the_common_shapes_take_the_quick_way(base: dict[str, Any]) -> None:
    # The point of the module: if these went to the SDK, it would be dead weight.
    assert _common(copy.deepcopy(base)) is not None
    assert _common(json.loads(json.dumps(base, ensure_ascii=False))) is not None


def test_every_shape_is_parsed_or_refused_as_the_sdk_does() -> None:
    quick = 0
    seen = 0
    for raw in shapes():
        seen += 1
        expected = outcome(Event.from_dict, copy.deepcopy(raw))
        got = outcome(parse_event, copy.deepcopy(raw))
        if _common(copy.deepcopy(raw)) is not None:
            quick += 1
        assert got[0] == expected[0], (raw, expected, got)
        if expected[0] == "refused":
            assert got[1] is expected[1], raw
            continue
        a, b = got[1], expected[1]
        assert type(a) is type(b), raw
        assert a == b, raw
        assert a.to_dict() == b.to_dict(), raw
        assert a.to_json() == b.to_json(), raw
        for part in ("source", "delivery_context", "message", "postback"):
            assert type(getattr(a, part, None)) is type(getattr(b, part, None)), (raw, part)
        assert a.__fields_set__ == b.__fields_set__, raw
    assert seen > 3000
    assert quick > 150  # the sample really went through the quick way too
