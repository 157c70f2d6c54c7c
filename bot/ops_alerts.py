"""Failures that need a person reach the ops channel: briefly, without personal data, once per cause per hour.

Each occurrence is counted in storage (the `ops_alerts` table) in the same transaction as the failure
it reports, and a post to `[slack] ops_channel` is queued in the outbox when the cause was not posted
within the hour. Details are ids, channels and error kinds only; the texts are in flows/texts/ja.toml.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Literal

from bot.clock import Clock
from bot.config import Settings
from bot.logs import fields
from bot.slack.mrkdwn import escape
from flows.texts import Texts
from storage import Database, Repositories
from storage.outbox_rows import OpsAlert

log = logging.getLogger("madoguchi.ops")

Cause = Literal[
    "inbox_failed",
    "outbox_dead",
    "outbox_refused",
    "line_monthly_limit",
    "slack_disconnected",
    "quota_low",
    "backup_failed",
]
QUIET_FOR = timedelta(hours=1)
# Ops posts have their own order key, so a stuck case thread never holds them up.
OPS_ORDER_KEY = "slack:ops"


class OpsAlerts:
    def __init__(
        self, db: Database, settings: Settings, texts: Texts, clock: Clock, on_queued: Callable[[], None]
    ) -> None:
        self._db = db
        self._settings = settings
        self._texts = texts
        self._clock = clock
        self._on_queued = on_queued

    async def note(self, tx: Repositories, cause: Cause, **detail: str | int) -> None:
        """Record one occurrence inside the caller's transaction; queue a post if one is due."""
        now = self._clock()
        text = self._texts.get(f"ops.{cause}", **{k: escape(str(v)) for k, v in detail.items()})
        log.warning("ops.alert", extra=fields(cause=cause, **detail))
        count = await tx.ops_alerts.note(cause, text, now, QUIET_FOR)
        channel = self._settings.slack.ops_channel
        if count is None or not channel:
            return
        note = self._texts.get("ops.repeat_note", count=count)
        await tx.outbox.add(OpsAlert(f"{text}\n{note}"), channel, now, order_key=OPS_ORDER_KEY)

    async def report(self, cause: Cause, **detail: str | int) -> None:
        """`note` in a transaction of its own (for failures noticed outside one)."""
        async with self._db.transaction() as tx:
            await self.note(tx, cause, **detail)
        self._on_queued()
