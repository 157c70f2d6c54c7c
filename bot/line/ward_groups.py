"""Delivery of a notice's messages to a ward center's LINE group (rows of `WardGroupMessages`, queued by
bot/notices.py). Apart from bot/notices.py so the LINE sender can use it without importing the rest."""

from __future__ import annotations

import aiohttp
from linebot.v3.messaging import ApiException

from bot.delivery import Delivered, Outcome
from bot.line.api import LineApi, classify
from storage import Repositories
from storage.outbox import OutboxMessage
from storage.outbox_rows import WardGroupMessages


async def deliver_to_group(api: LineApi, message: OutboxMessage, row: WardGroupMessages) -> Outcome:
    """A push to a ward's LINE group with the row's retry key; the first copy's message id is recorded.
    LINE refuses a push to a group the bot is not in (400): final, and reported like any refusal."""
    try:
        ids = await api.push(message.recipient, row.messages, message.retry_key)
    except (TimeoutError, ApiException, aiohttp.ClientError) as exc:
        return classify(exc)
    if not ids:
        return Delivered("push")

    async def record(tx: Repositories) -> None:
        await tx.notices.set_line_copy(row.notice_id, row.ward_center_id, ids[0])

    return Delivered("push", record=record)
