"""`madoguchi inbox retry` and `madoguchi outbox retry`: put failed work back in line once its cause is fixed.

Only what failed within the last `--hours` (24 by default) is put back: older answers and events would
arrive out of their time (and LINE keeps a retry key for 24 hours only). Safe while `serve` runs: the
workers pick the rows up within seconds.
"""

from __future__ import annotations

from datetime import timedelta

from bot.clock import utc_now
from bot.config import Settings
from storage import Database

DEFAULT_HOURS = 24
MAX_HOURS = 24 * 366 * 10  # ten years: more than anything kept, far from a date overflow


async def inbox_retry(settings: Settings, hours: float = DEFAULT_HOURS) -> int:
    db = await Database.open(settings.database_path, settings.storage.busy_timeout_ms)
    try:
        async with db.transaction() as tx:
            count = await tx.inbox.requeue_failed(utc_now() - timedelta(hours=hours))
    finally:
        await db.close()
    print(f"{count} failed event(s) of the last {hours:g} hours put back in line")
    return 0


async def outbox_retry(settings: Settings, hours: float = DEFAULT_HOURS) -> int:
    db = await Database.open(settings.database_path, settings.storage.busy_timeout_ms)
    try:
        now = utc_now()
        async with db.transaction() as tx:
            count = await tx.outbox.requeue_undelivered(now, now - timedelta(hours=hours))
    finally:
        await db.close()
    print(f"{count} undelivered message(s) of the last {hours:g} hours put back in line")
    return 0
