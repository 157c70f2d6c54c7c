"""`madoguchi inbox retry` and `madoguchi outbox retry`: put failed work back in line once its cause is fixed.

Safe while `serve` runs: the workers pick the rows up on their next look (within seconds).
"""

from __future__ import annotations

from bot.clock import utc_now
from bot.config import Settings
from storage import Database


async def inbox_retry(settings: Settings) -> int:
    db = await Database.open(settings.database_path, settings.storage.busy_timeout_ms)
    try:
        async with db.transaction() as tx:
            count = await tx.inbox.requeue_failed()
    finally:
        await db.close()
    print(f"{count} failed event(s) put back in line")
    return 0


async def outbox_retry(settings: Settings) -> int:
    db = await Database.open(settings.database_path, settings.storage.busy_timeout_ms)
    try:
        async with db.transaction() as tx:
            count = await tx.outbox.requeue_undelivered(utc_now())
    finally:
        await db.close()
    print(f"{count} undelivered message(s) put back in line")
    return 0
