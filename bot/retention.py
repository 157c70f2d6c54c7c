"""What the center keeps, and for how long: bodies of failed events and undelivered messages are
cleared after `[privacy] purge_undelivered_after_days` (handled and delivered ones are cleared at once,
in storage), and the rows of handled events (kept only to deduplicate retries) are deleted after the
same period; closed cases lose their personal data `[privacy] anonymise_closed_after_days` after
closing (their cards in Slack are redrawn without it); questionnaires closed more than
`purge_undelivered_after_days` ago keep only their counts, no longer who answered what; then the WAL
is checkpointed so the cleared texts leave the database files too.

Runs every hour from the scheduler; each run is idempotent (an anonymised case is never found again).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.citizen import queue_anonymised
from bot.clock import Clock
from bot.config import Settings
from bot.logs import fields
from flows.privacy import anonymise_case
from storage import Database

log = logging.getLogger("madoguchi.retention")


# Handled inbox rows deleted per transaction. The first sweep after an upgrade may find months of
# them; deleted in one transaction they would hold the write lock while webhooks wait for their
# acknowledgement (LINE gives about 2 s). Between batches the waiting transactions go first.
HANDLED_BATCH = 2000
# Questionnaires let go of per transaction (each takes its own recipients' rows, a few hundred at most:
# those who had a seat), for the same reason.
SURVEY_BATCH = 20


class RetentionSweeper:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Clock,
        on_queued: Callable[[], None] | None = None,
        handled_batch: int = HANDLED_BATCH,
        survey_batch: int = SURVEY_BATCH,
    ) -> None:
        self._db = db
        self._settings = settings
        self._clock = clock
        self._on_queued = on_queued
        self._handled_batch = handled_batch
        self._survey_batch = survey_batch

    async def run(self) -> None:
        now = self._clock()
        privacy = self._settings.privacy
        before = now - timedelta(days=privacy.purge_undelivered_after_days)
        closed_before = now - timedelta(days=privacy.anonymise_closed_after_days)
        async with self._db.transaction() as tx:
            events = await tx.inbox.purge_failed(before)
            messages = await tx.outbox.purge_undelivered(before)
            expired = await tx.cases.closed_before(closed_before)
            for case in expired:
                await anonymise_case(case, tx, now, "retention")
                await queue_anonymised(tx, self._settings, case, now)
        handled, batches = await self._purge_handled(before)
        # The same period after a questionnaire closed: its summary is posted (or dead, retried within
        # it) and a late typed answer has been told it closed; the counts are all that is used after.
        surveys = await self._keep_survey_counts(before)
        if events or handled or messages or expired or surveys:
            await self._db.checkpoint()
            log.info(
                "retention.purged",
                extra=fields(
                    events=events,
                    handled=handled,
                    batches=batches,
                    messages=messages,
                    cases=len(expired),
                    surveys=surveys,
                ),
            )
        if expired and self._on_queued is not None:
            self._on_queued()

    async def _purge_handled(self, before: datetime) -> tuple[int, int]:
        """Handled inbox rows deleted in bounded transactions; returns (rows, transactions)."""
        deleted = batches = 0
        while True:
            async with self._db.transaction() as tx:
                count = await tx.inbox.purge_handled(before, self._handled_batch)
            deleted += count
            batches += 1
            if count < self._handled_batch:
                return deleted, batches
            await asyncio.sleep(0)  # let webhooks' acknowledgements (urgent) take the writer first

    async def _keep_survey_counts(self, closed_before: datetime) -> int:
        """Questionnaires closed before then keep their counts only, in bounded transactions; returns
        how many."""
        kept = 0
        while True:
            async with self._db.transaction() as tx:
                count = await tx.questionnaire.keep_counts_only(closed_before, self._survey_batch)
            kept += count
            if count < self._survey_batch:
                return kept
            await asyncio.sleep(0)  # as in _purge_handled
