"""Neutral outgoing messages -> LINE message objects (as the JSON the API takes).

Built with the SDK's models so that a message the API would refuse fails here, where the flow that
made it can be named, and not at delivery. LINE's own limits the SDK does not check are applied
here, never by dropping content: a long text is split; a confirm whose text is over 240 characters
becomes a text with the same two choices as quick replies; a carousel of more than 12 cards becomes
several carousels; labels and alt texts are shortened. More choices than quick replies fit is a
flow's mistake (flows page long lists, see `flows.messages.MAX_CHOICES`) and raises.

The models are serialised in one pass (`_json`), not with their `to_dict()`: the SDK's generated
`to_dict()` of each model serialises its nested models and then does it again for each of them (a
quick reply's action three times over). A set of choices is built, validated and serialised once
(`_quick_reply_items`): menus and intake steps offer the same few sets again and again, and a quick
reply cost ten times its text. A plain text, which the model would only check is a `str`, is
built without it (`_text`). The JSON is the same (tests/line/test_render.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from linebot.v3.messaging import (
    ConfirmTemplate,
    FlexBox,
    FlexBubble,
    FlexButton,
    FlexCarousel,
    FlexMessage,
    FlexText,
    PostbackAction,
    QuickReply,
    QuickReplyItem,
    TemplateMessage,
    TextMessage,
    URIAction,
)
from pydantic.v1 import BaseModel

from flows.messages import MAX_CHOICES, Card, Carousel, Choice, Confirm, Link, Outgoing, Text

MAX_MESSAGES_PER_REQUEST = 5
MAX_TEXT_UTF16 = 5000
MAX_QUICK_REPLY_ITEMS = 13
MAX_LABEL = 20
# LINE counts a confirm's text in grapheme clusters; code points are never fewer.
MAX_CONFIRM_TEXT = 240
MAX_CAROUSEL_BUBBLES = 12
MAX_ALT_TEXT_UTF16 = 400

assert MAX_CHOICES <= MAX_QUICK_REPLY_ITEMS, "flows may offer more choices than LINE shows"


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MAX_TEXT_UTF16) -> list[str]:
    """Cut text into pieces LINE accepts, preferring line breaks, never splitting a surrogate pair."""
    pieces: list[str] = []
    rest = text
    while utf16_len(rest) > limit:
        cut = 0
        units = 0
        for index, char in enumerate(rest):
            units += 2 if ord(char) > 0xFFFF else 1
            if units > limit:
                break
            cut = index + 1
        newline = rest.rfind("\n", 0, cut)
        if newline > cut // 2:
            cut = newline + 1
        pieces.append(rest[:cut])
        rest = rest[cut:]
    pieces.append(rest)
    return pieces


def _json(model: BaseModel) -> dict[str, Any]:
    """What the model's `to_dict()` gives (by alias, no None), nested models serialised once."""
    return model.dict(by_alias=True, exclude_none=True)


def _alt_text(text: str) -> str:
    """At most 400 UTF-16 units, cut at a character; LINE refuses an empty alt text."""
    clipped = split_text(text, MAX_ALT_TEXT_UTF16)[0] if text else ""
    return clipped or "…"


def _label(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def _action(choice: Choice) -> PostbackAction:
    # displayText echoes the label in the chat, as if the citizen had typed it.
    return PostbackAction(label=_label(choice.label), data=choice.value, displayText=choice.label[:300])


def _button_action(button: Choice | Link) -> PostbackAction | URIAction:
    if isinstance(button, Link):
        return URIAction(label=_label(button.label), uri=button.url)
    return _action(button)


def _quick_reply(choices: Sequence[Choice]) -> QuickReply | None:
    if not choices:
        return None
    if len(choices) > MAX_QUICK_REPLY_ITEMS:
        raise ValueError(
            f"{len(choices)} choices: LINE shows at most {MAX_QUICK_REPLY_ITEMS} quick replies (page them in the flow)"
        )
    return QuickReply(items=[QuickReplyItem(action=_action(c)) for c in choices])


# Sets of choices seen recently; their labels and values are the flows' (categories, steps, event
# titles, slot times), never what a citizen typed.
@lru_cache(maxsize=256)
def _quick_reply_items(choices: tuple[Choice, ...]) -> tuple[dict[str, Any], ...]:
    """The choices as a quick reply's items, each `{"action": {...}, "type": "action"}` with nothing
    but strings in them: never handed out, `_quick_reply_copy` gives each message copies."""
    quick_reply = _quick_reply(choices)
    assert quick_reply is not None
    serialised = _json(quick_reply)
    items = serialised.pop("items")
    # The shape the copy relies on (one level of dict inside each item, strings only), checked once.
    if serialised or not all(_flat_item(item) for item in items):
        raise TypeError("a quick reply of another shape than its items of flat actions")
    return tuple(items)


def _flat_item(item: dict[str, Any]) -> bool:
    action = item.get("action")
    return (
        isinstance(action, dict)
        and all(type(value) is str for value in action.values())
        and all(type(value) is str for key, value in item.items() if key != "action")
    )


def _quick_reply_copy(choices: tuple[Choice, ...]) -> dict[str, Any]:
    """A quick reply of the message's own: new dicts and lists, the cached strings shared (a copy
    of the two levels ~1.5 us; json.loads of the cached JSON text was ~6 us for seven choices)."""
    return {"items": [{**item, "action": {**item["action"]}} for item in _quick_reply_items(choices)]}


def _bubble(card: Card) -> FlexBubble:
    body: list[Any] = [FlexText(text=card.title, weight="bold", size="md", wrap=True)]
    body += [FlexText(text=line, size="sm", wrap=True, color="#555555") for line in card.lines]
    footer = None
    if card.buttons:
        footer = FlexBox(
            layout="vertical",
            spacing="sm",
            contents=[
                FlexButton(action=_button_action(b), style="primary", height="sm") for b in card.buttons
            ],
        )
    return FlexBubble(body=FlexBox(layout="vertical", spacing="sm", contents=body), footer=footer)


def _text(piece: str) -> dict[str, Any]:
    """A plain text message, as `_json(TextMessage(text=piece))` gives it.

    For a `str` that is provably the same: the model's only check on `text` is StrictStr (any str,
    unchanged, no length limit: LINE's is applied by `split_text`), its other fields stay unset, and
    the keys come in the order of its fields. Anything else goes through the model, which refuses it.
    tests/line/test_render.py compares the two over hostile texts, so an SDK that changes this fails
    there. (The model cost ~7 us per piece; this ~0.1 us.)
    """
    if type(piece) is str:
        return {"type": "text", "text": piece}
    return _json(TextMessage(text=piece))


def render(message: Outgoing) -> list[dict[str, Any]]:
    """One neutral message as one or more LINE messages (long text is split)."""
    if isinstance(message, Text):
        rendered = [_text(piece) for piece in split_text(message.text)]
        if message.choices:
            # In the order of the SDK's fields, as its model would serialise it: type, quickReply, text.
            last = rendered[-1]
            quick_reply = _quick_reply_copy(message.choices)
            rendered[-1] = {"type": last["type"], "quickReply": quick_reply, "text": last["text"]}
        return rendered
    if isinstance(message, Confirm):
        if len(message.text) > MAX_CONFIRM_TEXT:
            # Too long for the template: the whole text, answered with the same two quick replies.
            return render(Text(message.text, choices=(message.yes, message.no)))
        template = ConfirmTemplate(text=message.text, actions=[_action(message.yes), _action(message.no)])
        return [_json(TemplateMessage(altText=_alt_text(message.text), template=template))]
    if isinstance(message, Card):
        return [_json(FlexMessage(altText=_alt_text(message.title), contents=_bubble(message)))]
    if isinstance(message, Carousel):
        if not message.cards:
            raise ValueError("a carousel needs at least one card")
        # More cards than one carousel holds: several carousels, in order, none dropped.
        return [
            _json(
                FlexMessage(
                    altText=_alt_text(message.alt_text),
                    contents=FlexCarousel(
                        contents=[_bubble(c) for c in message.cards[i : i + MAX_CAROUSEL_BUBBLES]]
                    ),
                )
            )
            for i in range(0, len(message.cards), MAX_CAROUSEL_BUBBLES)
        ]
    raise TypeError(f"cannot render {type(message).__name__}")


def render_batches(messages: Sequence[Outgoing]) -> list[list[dict[str, Any]]]:
    """LINE messages grouped into requests of at most five."""
    flat = [line_message for message in messages for line_message in render(message)]
    return [flat[i : i + MAX_MESSAGES_PER_REQUEST] for i in range(0, len(flat), MAX_MESSAGES_PER_REQUEST)]
