"""Delivers LINE outbox rows: a free reply while the event's token is fresh, else a push.

A push always carries the row's retry key, the same on every attempt, so LINE itself refuses to
send a message twice (409). A reply cannot carry one: if a reply attempt fails in a way that leaves
its fate unknown, the next attempt is a push (see docs/line.md for this trade-off).
"""

from __future__ import annotations

import aiohttp
from linebot.v3.messaging import ApiException

from bot.clock import Clock
from bot.delivery import Delivered, Final, Outcome, Retry
from bot.line.api import LineApi, classify, error_message
from storage import Database
from storage.outbox import OutboxMessage


class LineSender:
    def __init__(self, api: LineApi, db: Database, clock: Clock) -> None:
        self._api = api
        self._db = db
        self._clock = clock

    async def send(self, message: OutboxMessage) -> Outcome:
        user = await self._db.read.users.by_line_id(message.recipient)
        if user is not None and not user.following:
            return Final("unfollowed", cancelled=True)
        messages = message.body["messages"]
        expires = message.reply_token_expires_at
        tried_reply = False
        if message.reply_token and expires is not None and self._clock() < expires:
            tried_reply = True
            try:
                await self._api.reply(message.reply_token, messages)
                return Delivered("reply")
            except ApiException as exc:
                if not (exc.status == 400 and "reply token" in error_message(exc).lower()):
                    return _after_reply(classify(exc))
                # The token was spent or went stale: push the same messages now.
            except (TimeoutError, aiohttp.ClientError) as exc:
                return Retry(f"reply: {type(exc).__name__}", drop_reply_token=True)
        try:
            await self._api.push(message.recipient, messages, message.retry_key)
        except (TimeoutError, ApiException, aiohttp.ClientError) as exc:
            outcome = classify(exc)
            return _after_reply(outcome) if tried_reply else outcome
        return Delivered("push")


def _after_reply(outcome: Outcome) -> Outcome:
    """Once a reply was tried, later attempts push: a token is single use and may be spent."""
    if isinstance(outcome, Retry):
        return Retry(outcome.reason, outcome.after, drop_reply_token=True)
    return outcome
