"""Periodic work, with APScheduler (3.x, in memory) as the alarm clock only.

What must not be lost or repeated lives in the database; a job here just looks at the database and
acts on what is due, so a missed or doubled tick does no harm.
"""

from __future__ import annotations

import asyncio
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
        self._stopping = False

    def _guarded(self, job: Callable[[], Awaitable[object]], name: str) -> Callable[[], Awaitable[None]]:
        """`job` as APScheduler runs it: a failure is logged as ours, and a stop is no failure."""

        async def run() -> None:
            try:
                await job()
            except Exception:
                log.exception("scheduler.job_failed", extra=fields(job=name))
            except asyncio.CancelledError:
                if not self._stopping:
                    raise
                # Stopping cancels a job under way (a start-up sweep, when stopped right after
                # starting). Uncaught, APScheduler would log it as an ERROR with a traceback. What the
                # job left undone is still due in the database and is done at the next start.
                log.info("scheduler.job_stopped", extra=fields(job=name))

        return run

    def every(self, seconds: float, job: Callable[[], Awaitable[object]], name: str) -> None:
        # coalesce + a generous grace: a late tick runs once instead of being skipped silently.
        self._scheduler.add_job(
            self._guarded(job, name),
            "interval",
            seconds=seconds,
            id=name,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
        )

    def at(self, when: datetime, job: Callable[[], Awaitable[object]], name: str) -> None:
        """Run `job` once at `when` (at once if that has passed); a job of the same name is replaced."""
        # No misfire grace limit: the default of 1 s would skip a late alarm without a word.
        self._scheduler.add_job(
            self._guarded(job, name),
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
        self._stopping = True
        self._scheduler.shutdown(wait=False)
