"""Stopping is no error: a job under way when the scheduler stops (the start-up sweeps, when the bot is
stopped right after it starts) ends without an ERROR line or a traceback in the log."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.clock import utc_now
from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from bot.scheduler import Scheduler
from tests.harness import captured_log, settings_for, wait_for

MARKER = "MARKER-個人情報-7f3a"


async def test_a_job_under_way_at_stop_ends_quietly() -> None:
    started = asyncio.Event()

    async def sweep() -> None:
        started.set()
        await asyncio.Event().wait()  # a sweep that is still running when the stop comes

    with captured_log(MARKER) as log:
        scheduler = Scheduler()
        scheduler.at(utc_now(), sweep, "sweep")
        scheduler.start()
        await wait_for(started.is_set)
        await scheduler.stop()
        await wait_for(lambda: "event=scheduler.job_stopped job=sweep" in log.text)
    log.assert_clean()
    assert " level=info logger=madoguchi.scheduler event=scheduler.job_stopped job=sweep" in log.text


async def test_a_failing_job_is_still_an_error() -> None:
    async def sweep() -> None:
        raise OSError("disk gone")

    with captured_log(MARKER) as log:
        scheduler = Scheduler()
        scheduler.at(utc_now(), sweep, "sweep")
        scheduler.start()
        await wait_for(lambda: "scheduler.job_failed" in log.text)
        await scheduler.stop()
    assert (
        " level=error logger=madoguchi.scheduler event=scheduler.job_failed job=sweep error=OSError"
        in log.text
    )


async def test_the_bot_stopped_as_soon_as_it_starts_logs_no_error(tmp_path: Path, line: FakeLine) -> None:
    with captured_log(MARKER) as log:
        async with Runtime(settings_for(tmp_path, line.base_url)):
            pass
    log.assert_clean()
    assert "event=server.stopped" in log.text
