"""An outcome is stored once, even when a stop cuts off the try that was storing it.

The group commit still writes an item whose waiter was cancelled; the stop's last try then submits the
same outcome again. Written twice, a refused multicast's one-push-per-recipient rows were queued twice
(every recipient got the message twice), a retry counted two attempts, an alert went out twice.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.clock import utc_now
from bot.delivery import Delivered, RetryPolicy
from bot.line.sender import _split
from bot.outbox_worker import OutboxWorker, _Unrecorded
from storage import Database
from storage.outbox_rows import LineMulticast
from tests.harness import hold_database


async def test_a_stop_during_a_locked_database_stores_an_outcome_once(tmp_path: Path) -> None:
    path = tmp_path / "madoguchi.sqlite3"
    db = await Database.open(path, busy_timeout_ms=3000)
    try:
        now = utc_now()
        messages = [{"type": "text", "text": "明日のミズベサロンのお知らせです。"}]
        async with db.transaction() as tx:
            row = await tx.outbox.add(LineMulticast(["U1", "U2"], messages, "reminder"), "multicast", now)
        worker = OutboxWorker(db, utc_now, {}, RetryPolicy())
        refused = Delivered("multicast_split", record=_split(messages, ["U1", "U2"], now))
        # The state a first record that failed (a full disk, say) leaves: the outcome kept in memory.
        worker._unrecorded[row.order_key] = _Unrecorded(row, refused, 1, 0.0)

        release = hold_database(path)  # past the stop's grace period
        worker._record_again()  # what the worker's loop does with a kept outcome that is due
        await asyncio.sleep(0.05)
        asyncio.get_running_loop().call_later(1.0, release.set)
        await worker.stop(grace_seconds=0.3)
        await asyncio.sleep(0.5)

        for user in ("U1", "U2"):
            assert len(await db.read.outbox.in_order(f"line:{user}")) == 1
        stored = await db.read.outbox.get(row.id)
        assert stored is not None and (stored.status, stored.attempts) == ("sent", 1)
    finally:
        await db.close()
