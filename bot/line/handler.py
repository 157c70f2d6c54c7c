"""Handles one stored LINE webhook event: the SDK parses it, flows decide, the outbox gets the answer."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from linebot.v3.webhooks import (
    Event,
    FileMessageContent,
    FollowEvent,
    ImageMessageContent,
    LocationMessageContent,
    MessageEvent,
    PostbackEvent,
    StickerMessageContent,
    TextMessageContent,
    UnfollowEvent,
    UnsendEvent,
)

from bot.citizen import desk_context, queue_reply
from bot.clock import Clock
from bot.config import Settings
from bot.line.api import LineApi, ProfileUnavailable
from bot.line.sender import reply_token_expiry
from bot.logs import fields
from bot.notices import GroupEvents
from flows.desk import respond
from flows.messages import Inbound
from flows.texts import Texts
from storage import Database, Repositories
from storage.inbox import InboxItem

log = logging.getLogger("madoguchi.line")

PROFILE_TTL = timedelta(days=7)


# What a type name from LINE may look like in a log line; anything else is logged as "?".
_TYPE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")


@dataclass(frozen=True)
class Prepared:
    """The event parsed by the SDK, and the profile looked up, both before the transaction opens.

    `event` is None when the SDK does not know the event (a type LINE added later, or a shape it
    refuses): such an event is skipped, and `ignored` names its types for the log, never its content.
    """

    event: Event | None
    display_name: str | None = None
    fetched: bool = False
    ignored: str = ""


class LineEventHandler:
    def __init__(self, api: LineApi, db: Database, texts: Texts, settings: Settings, clock: Clock) -> None:
        self._api = api
        self._db = db
        self._texts = texts
        self._settings = settings
        self._clock = clock
        self._groups = GroupEvents(settings, texts)

    async def prepare(self, item: InboxItem) -> Prepared:
        """Fetch the display name when we have none or it is old (cached in the users table).

        Only for citizens who agreed to the privacy notice: before that we keep nothing about them
        but their LINE user id.
        """
        raw = json.loads(item.payload)
        try:
            event = Event.from_dict(raw)
        except Exception:
            # ValueError, TypeError, KeyError (a missing type)...: whatever the SDK refuses is skipped.
            # Its error message quotes the whole event (message text included): never log it.
            return Prepared(None, ignored=_types_of(raw))
        if getattr(event.source, "type", None) != "user" or not isinstance(
            event, FollowEvent | MessageEvent | PostbackEvent
        ):
            return Prepared(event)
        user = await self._db.quick.users.by_line_id(event.source.user_id)
        if user is None or user.privacy_agreed_at is None:
            return Prepared(event)
        fetched_at = user.display_name_fetched_at
        if fetched_at is not None and self._clock() - fetched_at < PROFILE_TTL:
            return Prepared(event)
        try:
            name = await self._api.display_name(event.source.user_id)
        except ProfileUnavailable:
            return Prepared(event)  # the name known stays, and is asked for again with the next event
        return Prepared(event, name, fetched=True)

    async def apply(self, item: InboxItem, prepared: Prepared, tx: Repositories) -> None:
        event = prepared.event
        if event is None:
            log.info("line.event_ignored", extra=fields(type=prepared.ignored, reason="unknown to the SDK"))
            return
        now = self._clock()
        if getattr(event.source, "type", None) != "user":
            # Groups and rooms (the ward centers'): joins, leaves and notice answers, never the citizen desk.
            issued = _issued_at(event, item.received_at)
            await self._groups.handle(
                event, tx, now, issued_at=issued, reply_token_expires_at=reply_token_expiry(issued)
            )
            return
        user_id = event.source.user_id
        if isinstance(event, UnfollowEvent):
            await tx.users.mark_unfollowed(user_id, now)
            cancelled = await tx.outbox.cancel_pending(f"line:{user_id}", "unfollowed")
            log.info("line.unfollowed", extra=fields(cancelled=cancelled))
            return
        inbound = _inbound(event)
        if inbound is None:
            log.info("line.event_ignored", extra=fields(type=event.type))
            return
        if isinstance(event, FollowEvent):
            user = await tx.users.mark_followed(user_id, now)
        elif isinstance(event, UnsendEvent):
            known = await tx.users.by_line_id(user_id)
            if known is None:
                return  # we keep nothing of theirs, so nothing to withdraw
            user = known
        else:
            user = await tx.users.ensure(user_id, now)
        if prepared.fetched:
            await tx.users.set_display_name(user.id, prepared.display_name, now)
        reply = await respond(inbound, user, tx, desk_context(self._settings, self._texts, now))
        await queue_reply(
            tx,
            self._settings,
            user_id,
            reply,
            now,
            reply_token=getattr(event, "reply_token", None),
            reply_token_expires_at=reply_token_expiry(_issued_at(event, item.received_at)),
        )


def _issued_at(event: Event, received_at: datetime) -> datetime:
    """When LINE issued the event's reply token: the webhook's timestamp (never later than arrival)."""
    stamp = getattr(event, "timestamp", None)
    if not isinstance(stamp, int):
        return received_at
    try:
        issued = datetime.fromtimestamp(stamp / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return received_at
    return min(issued, received_at)


def _types_of(raw: object) -> str:
    """`event/message/source` types of a raw event, safe to log (attacker-chosen strings are masked)."""

    def name(value: object) -> str:
        return value if isinstance(value, str) and _TYPE_NAME.fullmatch(value) else "?"

    if not isinstance(raw, dict):
        return "?"
    parts = [name(raw.get("type"))]
    for key in ("message", "source"):
        inner = raw.get(key)
        if isinstance(inner, dict):
            parts.append(f"{key}:{name(inner.get('type'))}")
    return "/".join(parts)


def _inbound(event: Event) -> Inbound | None:
    if isinstance(event, FollowEvent):
        return Inbound("follow")
    if isinstance(event, PostbackEvent):
        return Inbound("choice", value=event.postback.data)
    if isinstance(event, UnsendEvent):
        return Inbound("unsend", message_id=event.unsend.message_id)
    if not isinstance(event, MessageEvent):
        return None
    message = event.message
    if isinstance(message, TextMessageContent):
        return Inbound("text", text=message.text, message_id=message.id)
    if isinstance(message, StickerMessageContent):
        return Inbound("sticker", message_id=message.id)
    if isinstance(message, LocationMessageContent):
        return Inbound("location", message_id=message.id)
    if isinstance(message, ImageMessageContent):
        image_set = message.image_set.id if message.image_set is not None else ""
        return Inbound("media", media=message.type, message_id=message.id, image_set=image_set)
    if isinstance(message, FileMessageContent):
        return Inbound("media", media=message.type, message_id=message.id)
    if message.type in ("video", "audio"):
        return Inbound("media", media=message.type, message_id=message.id)
    return None
