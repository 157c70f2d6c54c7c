"""Periodic work, with APScheduler (3.x, in memory) as the alarm clock only.

What must not be lost or repeated lives in the database; a job here just looks at the database and
acts on what is due, so a missed or doubled tick does no harm.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.logs import fields

log = logging.getLogger("madoguchi.scheduler")


class Scheduler:
    def __init__(self) -> None:
        self._scheduler = AsyncIOScheduler(timezone="UTC")

    def every(self, seconds: float, job: Callable[[], Awaitable[object]], name: str) -> None:
        async def run() -> None:
            try:
                await job()
            except Exception:
                log.exception("scheduler.job_failed", extra=fields(job=name))

        # coalesce + a generous grace: a late tick runs once instead of being skipped silently.
        self._scheduler.add_job(
            run, "interval", seconds=seconds, id=name, coalesce=True, max_instances=1, misfire_grace_time=None
        )

    def at(self, when: datetime, job: Callable[[], Awaitable[object]], name: str) -> None:
        """Run `job` once at `when` (at once if that has passed); a job of the same name is replaced."""

        async def run() -> None:
            try:
                await job()
            except Exception:
                log.exception("scheduler.job_failed", extra=fields(job=name))

        # No misfire grace limit: the default of 1 s would skip a late alarm without a word.
        self._scheduler.add_job(
            run,
            "date",
            run_date=when,
            id=name,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
        )

    def cancel(self, name: str) -> None:
        with contextlib.suppress(JobLookupError):
            self._scheduler.remove_job(name)

    def start(self) -> None:
        self._scheduler.start()

    async def stop(self) -> None:
        self._scheduler.shutdown(wait=False)
