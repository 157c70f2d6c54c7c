"""Webhook acknowledgements go first: handling and delivery wait for a gap, never longer than a bound.

The workers are the real ones on a real database, the acknowledgements ingest's own
(`Ingest.store`): held waiting for the writer by a transaction the test keeps open, or stored back
to back by tasks that never pause, so ingest is never quiet.
"""

from __future__ import annotations

import asyncio

from bot.clock import utc_now
from bot.delivery import Delivered, Outcome, RetryPolicy
from bot.inbox_worker import InboxWorker
from bot.ingest import AckPriority, Ingest
from bot.outbox_worker import OutboxWorker
from storage import Database, Repositories
from storage.inbox import InboxItem, IncomingEvent
from storage.outbox import OutboxMessage
from storage.outbox_rows import LineMessages
from tests.conftest import NOW
from tests.harness import wait_for


class Answerer:
    """Handles an event by queueing one answer to its user; records what it prepared."""

    def __init__(self) -> None:
        self.prepared: list[str] = []

    async def prepare(self, item: InboxItem) -> None:
        self.prepared.append(item.event_id)

    async def apply(self, item: InboxItem, prepared: None, tx: Repositories) -> None:
        user, now = item.order_key.removeprefix("line:"), utc_now()  # due at once for the outbox
        await tx.users.ensure(user, now)
        await tx.outbox.add(
            LineMessages([{"type": "text", "text": item.event_id}]), user, now, order_key=user
        )


class Recipient:
    """A sender that takes everything: the order keys it was given."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, message: OutboxMessage) -> Outcome:
        self.sent.append(message.order_key)
        return Delivered("push")


def _event(user: str, event_id: str) -> IncomingEvent:
    return IncomingEvent("line", event_id, f"line:{user}", "{}")


async def test_handling_waits_while_an_acknowledgement_waits(db: Database) -> None:
    priority = AckPriority(max_defer=60.0)  # far beyond the test: only the gap lets the handling go
    ingest = Ingest(db, utc_now, priority=priority)
    ingest.start()
    async with db.transaction() as tx:
        await tx.inbox.add([_event("U1", "ev-1")], NOW)
    handler = Answerer()
    worker = InboxWorker(db, utc_now, {"line": handler}, priority=priority)
    release = asyncio.Event()
    holding = asyncio.Event()

    async def hold_writer() -> None:
        async with db.transaction():
            holding.set()
            await release.wait()

    holder = asyncio.create_task(hold_writer())
    await holding.wait()
    ack = asyncio.create_task(ingest.store([_event("U2", "ev-2")]))
    await wait_for(db.urgent_waiting)  # a webhook waits for its commit
    worker.start()
    try:
        await wait_for(lambda: priority.deferred == 1)
        assert handler.prepared == [], "nothing handled while an acknowledgement waits"
        release.set()
        await holder
        assert await ack == 1
        await wait_for(lambda: sorted(handler.prepared) == ["ev-1", "ev-2"])

        async def both_done() -> bool:
            return await db.read.inbox.count("done") == 2

        await wait_for(both_done)
    finally:
        release.set()
        await worker.stop()
        await ingest.stop()


async def test_handling_and_delivery_go_on_while_acknowledgements_never_pause(db: Database) -> None:
    priority = AckPriority(max_defer=0.05)
    ingest = Ingest(db, utc_now, priority=priority)
    ingest.start()
    handler = Answerer()
    recipient = Recipient()
    outbox = OutboxWorker(
        db, utc_now, {"line": recipient}, RetryPolicy(max_attempts=3, base_delay=0.01), priority=priority
    )
    inbox = InboxWorker(db, utc_now, {"line": handler}, on_handled=outbox.wake, priority=priority)
    stop = asyncio.Event()
    stored = 0

    async def burst(n: int) -> None:
        # Two of these back to back: some request always waits for its commit, ingest is never quiet.
        nonlocal stored
        while not stop.is_set():
            await ingest.store([_event(f"B{n}", f"burst-{n}-{stored}")])
            stored += 1
            inbox.wake()

    senders = [asyncio.create_task(burst(n)) for n in range(2)]
    outbox.start()
    inbox.start()
    try:
        await wait_for(lambda: stored > 0)
        await ingest.store([_event("U1", "ev-1")])
        # Handled and delivered while the acknowledgements go on.
        await wait_for(lambda: "U1" in recipient.sent)
        assert not stop.is_set() and not any(task.done() for task in senders)
        so_far = stored
        await wait_for(lambda: stored > so_far)
    finally:
        stop.set()
        await asyncio.gather(*senders)
        await inbox.stop()
        await outbox.stop()
        await ingest.stop()
