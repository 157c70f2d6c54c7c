"""The channel-neutral conversation model: what comes in, and what the bot says back.

Adapters translate platform events into `Inbound` and `Outgoing` into platform messages; flows see
nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# The most choices one message may offer: LINE's 13 quick replies, the smallest of the channels.
# A flow with more options pages them; renderers never drop any.
MAX_CHOICES = 13

# unsend: the citizen withdrew an earlier message (`message_id`); the desk forgets what it kept of it.
InboundKind = Literal["text", "choice", "follow", "unfollow", "media", "location", "sticker", "unsend"]


@dataclass(frozen=True)
class Inbound:
    """One thing a citizen did. `value` is a choice's value (a postback); `media` names what was sent;
    `image_set` the set an image was sent with, several at once (LINE's imageSet id; flows/image_sets.py)."""

    kind: InboundKind
    text: str = ""
    value: str = ""
    media: str = ""
    message_id: str = ""
    image_set: str = ""


@dataclass(frozen=True)
class Choice:
    """A button or quick reply: `label` is shown, `value` comes back as an Inbound choice.

    `words` are other ways a citizen may type the option (でんわ, TEL for 電話で): matching aids
    declared next to the option (see flows.matching), never shown, so not part of equality."""

    label: str
    value: str
    words: tuple[str, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class Text:
    """A text message, optionally offering choices (quick replies on LINE)."""

    text: str
    choices: tuple[Choice, ...] = ()


@dataclass(frozen=True)
class Confirm:
    """A yes/no question shown as two buttons."""

    text: str
    yes: Choice
    no: Choice


@dataclass(frozen=True)
class Link:
    """A button that opens an address (add to calendar). Not an answer: never among a message's
    choices, and whatever it offers is also written out in a text for those who type."""

    label: str
    url: str


@dataclass(frozen=True)
class Card:
    """A titled block of lines with buttons (a Flex bubble on LINE)."""

    title: str
    lines: tuple[str, ...] = ()
    buttons: tuple[Choice | Link, ...] = ()


@dataclass(frozen=True)
class Carousel:
    """Several cards side by side."""

    alt_text: str
    cards: tuple[Card, ...] = field(default_factory=tuple)


Outgoing = Text | Confirm | Card | Carousel
