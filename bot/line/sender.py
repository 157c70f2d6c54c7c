"""Delivers LINE outbox rows: a free reply while the event's token is fresh, else a push.

A push always carries the row's retry key, the same on every attempt, so LINE itself refuses to
send a message twice (409). A reply cannot carry one, so every reply attempt is committed before the
request leaves. Reply tokens are single use and only this bot holds them: when a recorded attempt is
followed by a refused token while the token is surely still valid (`REPLY_SURELY_VALID` after LINE
issued it), the earlier attempt arrived and nothing more is sent. Past that window a refusal may mean
"expired" as well as "used", and the answer is pushed: a rare duplicate rather than a lost answer
(see docs/line.md).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import aiohttp
from linebot.v3.messaging import ApiException

from bot.clock import Clock
from bot.delivery import Delivered, Final, Outcome, Retry
from bot.group_commit import WriteGroup
from bot.line.api import LineApi, Quota, classify, error_message
from bot.line.ward_groups import deliver_to_group
from bot.logs import fields
from storage import Database, Repositories
from storage.outbox import OutboxMessage
from storage.outbox_rows import (
    EventAnnouncement,
    LineMessages,
    LineMulticast,
    MulticastPurpose,
    WardGroupMessages,
)

log = logging.getLogger("madoguchi.line.sender")

# LINE guarantees a reply token for about a minute; we stop using it a little before.
REPLY_TOKEN_LIFETIME = timedelta(seconds=50)
# Bots see tokens refused well before the documented minute (around 30 s); inside this much time
# from the webhook's timestamp a refusal of a token we already used can only mean "used".
REPLY_SURELY_VALID = timedelta(seconds=20)
# The recipient (and order-key part) of multicast rows, which name their recipients themselves.
MULTICAST = LineMulticast.kind
# Announcements queued before EventAnnouncement were plain multicasts with this order key
# (`announcement_order_key`): it names their event, so they are drawn when sent as the new rows are.
_ANNOUNCEMENT_KEY = re.compile(rf"line:{MULTICAST}:announce:(\d+):\d+")


def announcement_order_key(event_id: int, batch: int) -> str:
    """The order key of an event's announcement batch (the same as before EventAnnouncement)."""
    return f"line:{MULTICAST}:announce:{event_id}:{batch}"


def reply_token_expiry(issued_at: datetime) -> datetime:
    """When to stop trying a reply token that LINE issued at `issued_at` (the webhook's timestamp)."""
    return issued_at + REPLY_TOKEN_LIFETIME


# The month's quota, once asked, is trusted this long (counting what we sent since) before asking again.
QUOTA_FRESH_SECONDS = 60.0
# Told before a multicast that needs more messages than the month has left:
# (its purpose as the row says, e.g. "reminder"; recipients; messages each; the quota as known).
QuotaShort = Callable[[MulticastPurpose, int, int, Quota], Awaitable[None]]
# An event's announcement as it is to be sent now (bot/announce.py `draw_announcement`, given by the
# runtime): those of the row's recipients still to be told and the messages, or why nothing is sent.
DrawAnnouncement = Callable[
    [Repositories, EventAnnouncement, datetime], Awaitable[tuple[list[str], list[dict[str, Any]]] | str]
]


class LineSender:
    def __init__(
        self,
        api: LineApi,
        db: Database,
        clock: Clock,
        *,
        on_quota_short: QuotaShort | None = None,
        records: WriteGroup | None = None,
        draw_announcement: DrawAnnouncement | None = None,
    ) -> None:
        self._api = api
        self._db = db
        self._clock = clock
        self.on_quota_short = on_quota_short
        self._draw_announcement = draw_announcement
        self._quota: Quota | None = None
        self._quota_at = 0.0
        # Concurrent replies' attempts share one commit (with the outcomes of deliveries, when the
        # outbox worker shares its `records`); each reply waits for the one holding its mark.
        self.records = records or WriteGroup(db, name="line.reply_attempts", log=log)

    async def send(self, message: OutboxMessage) -> Outcome:
        row = message.row
        legacy = _ANNOUNCEMENT_KEY.fullmatch(message.order_key) if isinstance(row, LineMulticast) else None
        if isinstance(row, LineMulticast) and row.purpose == "announcement" and legacy is not None:
            row = EventAnnouncement(int(legacy[1]), row.to)
        if isinstance(row, EventAnnouncement):
            return await self._announcement(message, row)
        if isinstance(row, LineMulticast):
            to = await self._db.read.reminders.still_following(row.to)
            return await self._multicast(message, to, row.messages, row.purpose)
        if isinstance(row, WardGroupMessages):
            return await deliver_to_group(self._api, message, row)
        if not isinstance(row, LineMessages):
            return Final(f"not a LINE row: {row.kind}")
        user = await self._db.quick.users.by_line_id(message.recipient)
        if user is not None and not user.following:
            return Final("unfollowed", cancelled=True, whole_key=True)
        messages = row.messages
        expires = message.reply_token_expires_at
        if message.reply_token and expires is not None and self._clock() < expires:
            try:
                await self.records.submit(partial(self._mark_reply_attempt, message.id))
            except Exception as exc:  # not recorded, so not sent: the same token is tried again later
                return Retry(f"recording the reply attempt failed: {type(exc).__name__}")
            # Committed: only now may the reply leave.
            try:
                await self._api.reply(message.reply_token, messages)
                return Delivered("reply")
            except ApiException as exc:
                if not (exc.status == 400 and "reply token" in error_message(exc).lower()):
                    return self._reply_failed(classify(exc), expires)
                if self._spent_by_us(message, expires):
                    log.info("line.reply_inferred", extra=fields(id=message.id))
                    return Delivered("reply")
            except (TimeoutError, aiohttp.ClientError) as exc:
                return self._reply_failed(Retry(f"reply: {type(exc).__name__}"), expires)
            # The token went stale (or its fate is unknown past the window): push the same messages,
            # and remember that first, so a restart in mid-push does not read the refusal as our reply.
            try:
                async with self._db.transaction() as tx:
                    await tx.outbox.drop_reply_token(message.id)
            except Exception as exc:
                # Not remembered: do not push now; the outbox records the drop with its outcome.
                return Retry(
                    f"recording the refused token failed: {type(exc).__name__}", drop_reply_token=True
                )
        try:
            await self._api.push(message.recipient, messages, message.retry_key)
        except (TimeoutError, ApiException, aiohttp.ClientError) as exc:
            return classify(exc)
        return Delivered("push")

    async def _mark_reply_attempt(self, message_id: int, tx: Repositories) -> None:
        await tx.outbox.mark_reply_attempt(message_id, self._clock())

    async def _announcement(self, message: OutboxMessage, row: EventAnnouncement) -> Outcome:
        """An event's announcement, drawn now: to those of the row's recipients who still chose the
        kind, with the event as it is; nothing when it can no longer be announced."""
        if self._draw_announcement is None:
            return Final("an event announcement cannot be drawn by this sender")
        drawn = await self._draw_announcement(self._db.read, row, self._clock())
        if isinstance(drawn, str):
            log.info("line.announcement_withheld", extra=fields(id=message.id, event=row.event_id))
            # This row only: a split row sits in the citizen's own order, before their other messages.
            return Final(drawn, cancelled=True)
        to, messages = drawn
        return await self._multicast(message, to, messages, "announcement", row.event_id)

    async def _multicast(
        self,
        message: OutboxMessage,
        to: list[str],
        messages: list[dict[str, Any]],
        purpose: MulticastPurpose,
        event_id: int | None = None,
    ) -> Outcome:
        """The same messages to a row's ≤500 recipients (who unfollowed since it was written already
        left out), with the row's retry key.

        When LINE refuses the batch as a bad request (400: a recipient it will not take), it is sent
        again member by member, with keys of their own, so the one recipient at fault gets the error
        and everyone else the message (an announcement's members, `event_id`, are drawn again when
        sent). Any other refusal (401 or 403: the token or the channel's rights; the monthly limit)
        would refuse every member alike, so the row fails as one.
        """
        if not to:
            return Final("unfollowed", cancelled=True)
        needed = len(to) * len(messages)
        if message.attempts == 0:
            await self._check_quota(purpose, len(to), len(messages))
        bad_request = False
        try:
            await self._api.multicast(to, messages, message.retry_key)
        except (TimeoutError, ApiException, aiohttp.ClientError) as exc:
            outcome = classify(exc)
            bad_request = isinstance(exc, ApiException) and exc.status == 400
        else:
            if self._quota is not None:
                self._quota = Quota(self._quota.kind, self._quota.limit, self._quota.used + needed)
            return Delivered("multicast")
        if isinstance(outcome, Delivered):  # 409: this retry key was accepted before
            return Delivered("multicast")
        if isinstance(outcome, Final) and bad_request and len(to) > 1:
            log.warning("line.multicast_split", extra=fields(id=message.id, recipients=len(to)))
            return Delivered("multicast_split", record=_split(messages, to, self._clock(), event_id))
        return outcome

    async def _check_quota(self, purpose: MulticastPurpose, recipients: int, messages: int) -> None:
        """Warn (through `on_quota_short`) when this send needs more than the month has left."""
        if self.on_quota_short is None:
            return
        if self._quota is None or time.monotonic() - self._quota_at > QUOTA_FRESH_SECONDS:
            try:
                self._quota = await self._api.quota()
            except Exception as exc:  # the send goes ahead; LINE refuses what is over the limit
                log.warning("line.quota_unavailable", extra=fields(error=type(exc).__name__))
                return
            self._quota_at = time.monotonic()
        quota = self._quota
        if quota.limit is not None and recipients * messages > quota.limit - quota.used:
            try:
                await self.on_quota_short(purpose, recipients, messages, quota)
            except Exception:
                log.exception("line.quota_warning_failed")

    def _reply_failed(self, outcome: Outcome, expires: datetime) -> Outcome:
        """A reply whose fate is unknown (5xx, 429, timeout, dropped connection) is tried again with its
        token while the token is surely valid (a refusal then tells that it arrived), else pushed."""
        if isinstance(outcome, Retry):
            return Retry(outcome.reason, outcome.after, drop_reply_token=not self._surely_valid(expires))
        return outcome

    def _surely_valid(self, expires: datetime) -> bool:
        return self._clock() < expires - REPLY_TOKEN_LIFETIME + REPLY_SURELY_VALID

    def _spent_by_us(self, message: OutboxMessage, expires: datetime) -> bool:
        """An attempt of ours was recorded before this one, and the token cannot have expired yet."""
        return message.reply_attempted_at is not None and self._surely_valid(expires)


def _split(
    messages: list[dict[str, Any]], to: list[str], now: datetime, event_id: int | None = None
) -> Callable[[Repositories], Awaitable[None]]:
    """Queue one push per recipient of a refused multicast (recorded with the row's outcome); for an
    announcement, one announcement row per recipient, in the citizen's own order, drawn when sent."""

    async def record(tx: Repositories) -> None:
        for user in to:
            if event_id is None:
                await tx.outbox.add(LineMessages(messages), user, now)
            else:
                row = EventAnnouncement(event_id, [user])
                await tx.outbox.add(row, MULTICAST, now, order_key=f"line:{user}")

    return record
