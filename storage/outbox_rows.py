"""The kinds of outgoing rows, each a typed class, with one serialiser for all of them.

An outbox row is what waits for a platform to deliver: LINE messages for one citizen, one multicast, a
case card, a line in a case thread, a post in a staff channel. Each kind is a frozen dataclass declared
once with `@row_kind(name, channel)`; `encode` and `decode` are the only code that turns rows into the
stored JSON and back. So a misspelt kind is a name the type checker rejects, a missing field is a type
error where the row is made, and a stored row that does not fit its kind (an old version's row, a
damaged file) is refused by `decode` with `BadRow` instead of being sent half right at night.

Adding a kind: declare its class here (or in the module that owns it) with `@row_kind`, and give the
sender of its channel a branch for it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import TypeAdapter, ValidationError

Channel = Literal["line", "slack"]

# The field that names a row's kind in its stored JSON.
KIND_KEY = "kind"


class BadRow(ValueError):
    """A stored row whose kind is unknown or whose fields do not fit its kind."""


@dataclass(frozen=True)
class OutboxRow:
    kind: ClassVar[str]
    channel: ClassVar[Channel]


R = TypeVar("R", bound=OutboxRow)
_KINDS: dict[str, tuple[type[OutboxRow], TypeAdapter[Any]]] = {}


def row_kind(name: str, channel: Channel) -> Callable[[type[R]], type[R]]:
    """Declare a row kind: its stored name and the channel whose sender delivers it."""

    def declare(cls: type[R]) -> type[R]:
        if name in _KINDS:
            raise ValueError(f"outbox row kind {name!r} is declared twice")
        cls.kind = name
        cls.channel = channel
        _KINDS[name] = (cls, TypeAdapter(cls))
        return cls

    return declare


def encode(row: OutboxRow) -> dict[str, Any]:
    """The JSON-ready body of a row: its fields and its kind."""
    _, adapter = _KINDS[row.kind]
    return {KIND_KEY: row.kind, **adapter.dump_python(row, mode="json")}


def decode(body: Mapping[str, Any]) -> OutboxRow:
    """The row a stored body holds; `BadRow` when it holds none."""
    kind = body.get(KIND_KEY)
    if kind is None:
        kind = _legacy_kind(body)
    declared = _KINDS.get(kind) if isinstance(kind, str) else None
    if declared is None:
        raise BadRow(f"unknown outbox row kind {kind!r}")
    _, adapter = declared
    values = {key: value for key, value in body.items() if key != KIND_KEY}
    try:
        return adapter.validate_python(values)  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise BadRow(f"outbox row of kind {kind!r} does not fit it ({exc.error_count()} errors)") from None


def _legacy_kind(body: Mapping[str, Any]) -> object:
    """Rows written before kinds were typed: Slack rows named theirs `event`; LINE rows had none."""
    if "event" in body:
        return body["event"]
    return LineMessages.kind if "messages" in body else None


# --- LINE -------------------------------------------------------------------------------------------


@row_kind("line_messages", "line")
@dataclass(frozen=True)
class LineMessages(OutboxRow):
    """One to five messages for the citizen the row is addressed to (a reply while its token is fresh,
    else a push)."""

    messages: list[dict[str, Any]]


# What a multicast is for, named in the warning staff get when the month's quota is short
# (flows/texts/ja.toml [reminders] purpose_*); "" for anything else.
MulticastPurpose = Literal["", "reminder", "cancelled", "rescheduled", "announcement", "survey"]


@row_kind("multicast", "line")
@dataclass(frozen=True)
class LineMulticast(OutboxRow):
    """The same messages to at most 500 citizens in one request."""

    to: list[str]
    messages: list[dict[str, Any]]
    purpose: MulticastPurpose = ""


# --- Slack ------------------------------------------------------------------------------------------


@row_kind("ops_alert", "slack")
@dataclass(frozen=True)
class OpsAlert(OutboxRow):
    """A line for the ops channel (no personal data)."""

    text: str


@row_kind("channel_post", "slack")
@dataclass(frozen=True)
class ChannelPost(OutboxRow):
    """A post in a staff channel the row is addressed to (the events channel's day-before list...)."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)


@row_kind("case_created", "slack")
@dataclass(frozen=True)
class CaseCreated(OutboxRow):
    """The case card, posted once; its ts is recorded so that later rows update it."""

    case_id: int


@row_kind("card_update", "slack")
@dataclass(frozen=True)
class CardUpdate(OutboxRow):
    case_id: int


@row_kind("channel_note", "slack")
@dataclass(frozen=True)
class ChannelNote(OutboxRow):
    """A line about a case in a channel, outside its thread (an escalation)."""

    case_id: int
    text: str


@row_kind("thread_note", "slack")
@dataclass(frozen=True)
class ThreadNote(OutboxRow):
    """A line in the case thread, already in Slack's markup. `personal`: it quotes an answer to the
    citizen (a modal's copy), so deleting the citizen's data deletes it."""

    case_id: int
    text: str
    personal: bool = False


@row_kind("case_followup", "slack")
@dataclass(frozen=True)
class CaseFollowup(OutboxRow):
    """A citizen's later message (text, image, file) copied into the case thread."""

    case_id: int
    message_id: int


@row_kind("case_reopened", "slack")
@dataclass(frozen=True)
class CaseReopened(OutboxRow):
    case_id: int


@row_kind("case_anonymised", "slack")
@dataclass(frozen=True)
class CaseAnonymised(OutboxRow):
    case_id: int


@row_kind("thread_purge", "slack")
@dataclass(frozen=True)
class ThreadPurge(OutboxRow):
    """Delete the thread posts that carried a citizen's words (their data was deleted)."""

    case_id: int


# --- Ward centers' notices (bot/notices.py, bot/slack/notices.py) ------------------------------------


@row_kind("ward_notice_copy", "slack")
@dataclass(frozen=True)
class WardNoticeCopy(OutboxRow):
    """A ward's copy of a notice in its Slack channel: posted once (its ts recorded), then updated in
    place, each time drawn from the notice and the ward's answer as they are at delivery."""

    notice_id: int
    ward_center_id: int


@row_kind("notice_sheet", "slack")
@dataclass(frozen=True)
class NoticeSheet(OutboxRow):
    """The staff's answer sheet of a notice: posted once (its ts recorded), then updated in place."""

    notice_id: int


@row_kind("ward_group_messages", "line")
@dataclass(frozen=True)
class WardGroupMessages(OutboxRow):
    """Messages pushed to a ward center's LINE group (with the row's retry key); the id LINE gives the
    first copy of a notice is recorded."""

    notice_id: int
    ward_center_id: int
    messages: list[dict[str, Any]]


# --- A citizen's 送信取消 (unsend) (flows/desk.py, bot/slack/sender.py) ------------------------------


@row_kind("case_unsent", "slack")
@dataclass(frozen=True)
class CaseUnsent(OutboxRow):
    """The citizen unsent a follow-up: its copy in the case thread (if posted as text) is replaced by
    a neutral line, and staff are told in the thread."""

    case_id: int
    message_id: int


# --- App Home after a deletion (bot/citizen.py queue_anonymised, bot/slack/home_page.py) ------------


@row_kind("home_refresh", "slack")
@dataclass(frozen=True)
class HomeRefresh(OutboxRow):
    """One staff member's App Home (`user`) published again, drawn as it is when sent: Slack keeps a
    published Home as it was, and a case it showed had its personal data deleted. One row per viewer,
    coalesced (bot/slack/home_page.py `queue_refresh`), so one publish covers every case erased
    before it. A row with `case_id` only was queued per case by an earlier version: it is turned
    into rows per viewer of that case."""

    user: str | None = None
    case_id: int | None = None


# --- The day-before list of an event (bot/event_digest.py, bot/slack/sender.py) -----------------------


@row_kind("event_digest", "slack")
@dataclass(frozen=True)
class EventDigest(OutboxRow):
    """The list of an event's registrants for staff, drawn from its roster when it is sent, so that a
    sign-up cancelled or deleted meanwhile is not in it and no name waits in the outbox. The list is
    cut into as many posts as Slack needs: this row posts `part`, then queues the next part.

    Who is in which part is fixed when part 1 is drawn: the next part's row holds the registration
    ids of each part still to post (this one first) and the number shown for the first of this part,
    never a name. A later part shows those still signed up, under their names as they are then; it
    only ever leaves someone out, never moves them to a part already posted."""

    event_id: int
    part: int = 1
    registrations: tuple[tuple[int, ...], ...] = ()
    number: int = 1


# --- An event's announcement to the citizens who chose its kind (bot/announce.py, bot/line/sender.py) --


@row_kind("event_announcement", "line")
@dataclass(frozen=True)
class EventAnnouncement(OutboxRow):
    """An event's announcement for at most 500 of the citizens who chose its kind, drawn when it is
    sent: whoever stopped announcements, no longer chose the kind, unfollowed or was deleted since it
    was queued is left out, the text tells the event as it is then, and nothing goes out once the event
    can no longer be announced (cancelled, internal, closed, started). `to` is named as a multicast's,
    so that a deletion takes the citizen out of it (OutboxRepository.drop_recipient)."""

    event_id: int
    to: list[str]
