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
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import aiohttp
from linebot.v3.messaging import ApiException

from bot.clock import Clock
from bot.delivery import Delivered, Final, Outcome, Retry
from bot.line.api import LineApi, classify, error_message
from bot.logs import fields
from storage import Database, Repositories
from storage.outbox import OutboxMessage

log = logging.getLogger("madoguchi.line.sender")

# LINE guarantees a reply token for about a minute; we stop using it a little before.
REPLY_TOKEN_LIFETIME = timedelta(seconds=50)
# Bots see tokens refused well before the documented minute (around 30 s); inside this much time
# from the webhook's timestamp a refusal of a token we already used can only mean "used".
REPLY_SURELY_VALID = timedelta(seconds=20)
# An outbox row whose payload is {"kind": "multicast", "to": [...], "messages": [...]}.
MULTICAST = "multicast"


def reply_token_expiry(issued_at: datetime) -> datetime:
    """When to stop trying a reply token that LINE issued at `issued_at` (the webhook's timestamp)."""
    return issued_at + REPLY_TOKEN_LIFETIME


class LineSender:
    def __init__(self, api: LineApi, db: Database, clock: Clock) -> None:
        self._api = api
        self._db = db
        self._clock = clock

    async def send(self, message: OutboxMessage) -> Outcome:
        if message.body.get("kind") == MULTICAST:
            return await self._multicast(message)
        user = await self._db.read.users.by_line_id(message.recipient)
        if user is not None and not user.following:
            return Final("unfollowed", cancelled=True)
        messages = message.body["messages"]
        expires = message.reply_token_expires_at
        if message.reply_token and expires is not None and self._clock() < expires:
            async with self._db.transaction() as tx:
                await tx.outbox.mark_reply_attempt(message.id, self._clock())
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

    async def _multicast(self, message: OutboxMessage) -> Outcome:
        """One multicast row: the same messages to its ≤500 recipients, with the row's retry key.

        Who unfollowed since the row was written is left out. When LINE refuses the batch for good
        (a 4xx other than 429), it is sent again member by member, as pushes with keys of their own,
        so the one recipient at fault gets the error and everyone else the message.
        """
        body = message.body
        to = await self._db.read.reminders.still_following(list(body["to"]))
        if not to:
            return Final("unfollowed", cancelled=True)
        try:
            await self._api.multicast(to, body["messages"], message.retry_key)
        except (TimeoutError, ApiException, aiohttp.ClientError) as exc:
            outcome = classify(exc)
        else:
            return Delivered("multicast")
        if isinstance(outcome, Delivered):  # 409: this retry key was accepted before
            return Delivered("multicast")
        if isinstance(outcome, Final) and len(to) > 1 and not outcome.reason.startswith("monthly_limit"):
            log.warning("line.multicast_split", extra=fields(id=message.id, recipients=len(to)))
            return Delivered("multicast_split", record=_split(message, to, self._clock()))
        return outcome

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


def _split(message: OutboxMessage, to: list[str], now: datetime) -> Callable[[Repositories], Awaitable[None]]:
    """Queue one push per recipient of a refused multicast (recorded with the row's outcome)."""

    async def record(tx: Repositories) -> None:
        for user in to:
            await tx.outbox.add("line", user, {"messages": message.body["messages"]}, now)

    return record
