"""What the center keeps, and for how long: bodies of failed events and undelivered messages are
cleared after `[privacy] purge_undelivered_after_days` (handled and delivered ones are cleared at once,
in storage), then the WAL is checkpointed so the cleared texts leave the database files too.

Runs every hour from the scheduler; each run is idempotent.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.clock import Clock
from bot.config import Settings
from bot.logs import fields
from storage import Database

log = logging.getLogger("madoguchi.retention")


class RetentionSweeper:
    def __init__(self, db: Database, settings: Settings, clock: Clock) -> None:
        self._db = db
        self._settings = settings
        self._clock = clock

    async def run(self) -> None:
        before = self._clock() - timedelta(days=self._settings.privacy.purge_undelivered_after_days)
        async with self._db.transaction() as tx:
            events = await tx.inbox.purge_failed(before)
            messages = await tx.outbox.purge_undelivered(before)
        if events or messages:
            await self._db.checkpoint()
            log.info("retention.purged", extra=fields(events=events, messages=messages))
