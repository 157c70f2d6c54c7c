"""Group commit for inbound events: many webhook requests, one transaction.

Each request hands its events over and waits until they are committed; whatever has queued up
meanwhile is committed at once (bot/group_commit.py). The durability is the same as one commit per
request, at several times the throughput (see docs/line.md and bench/).

Acknowledgements also come first on the event loop: the inbox and outbox workers start new work only
in the gaps between them, or once they have waited `MAX_DEFER_SECONDS` (`AckPriority`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from bot.clock import Clock
from bot.group_commit import GroupCommit
from storage import Database, Repositories
from storage.inbox import IncomingEvent

log = logging.getLogger("madoguchi.ingest")

# The longest background work waits for a gap in the acknowledgements. A webhook must be answered
# within ~2 s and a reply token lasts about a minute: handling and delivery held back this long at a
# time (an event twice: its row looked at, then handled, 0.4 s) are never late for either, and
# under a burst that never ends they still start five times a second (see docs/performance.md).
MAX_DEFER_SECONDS = 0.2
# Ingest counts as busy this long after its last acknowledgement: in a burst the next request is
# already on its way (read, its signature checked) before it reaches ingest.
QUIET_SECONDS = 0.005


class AckPriority:
    """Lets the workers start new work (handle an event, deliver a row) only when no webhook waits.

    Ingest reports each request waiting for its commit. `turn()` returns at once while ingest is
    quiet (no request waiting, none acknowledged within `quiet` seconds); otherwise when it becomes
    quiet, or at the latest `max_defer` seconds after the first of the current waiters began to wait:
    all of them go together, so under a burst that never quiets, work still starts every `max_defer`.
    """

    def __init__(self, max_defer: float = MAX_DEFER_SECONDS, quiet: float = QUIET_SECONDS) -> None:
        self._max_defer = max_defer
        self._quiet = quiet
        self._requests = 0
        self._last_ack = float("-inf")
        self._window: asyncio.Event | None = None  # what the waiters of this deferral wait for
        self._timers: list[asyncio.TimerHandle] = []
        self.deferred = 0  # work waiting for its turn right now

    def request_started(self) -> None:
        self._requests += 1

    def request_done(self) -> None:
        self._requests -= 1
        self._last_ack = time.monotonic()
        if self._requests == 0 and self._window is not None:
            self._check_later()

    async def turn(self) -> None:
        """Wait until no acknowledgement waits (or for `max_defer` at most)."""
        if self._requests == 0 and time.monotonic() - self._last_ack >= self._quiet:
            return
        if self._window is None:
            self._window = asyncio.Event()
            self._timers.append(asyncio.get_running_loop().call_later(self._max_defer, self._release))
            if self._requests == 0:
                self._check_later()
        window = self._window
        self.deferred += 1
        try:
            await window.wait()
        finally:
            self.deferred -= 1

    def _check_later(self) -> None:
        delay = self._last_ack + self._quiet - time.monotonic()
        self._timers.append(asyncio.get_running_loop().call_later(max(0.0, delay), self._check_quiet))

    def _check_quiet(self) -> None:
        if self._window is None or self._requests > 0:
            return  # released already, or the request now waiting checks again when it is done
        if time.monotonic() - self._last_ack >= self._quiet:
            self._release()
        else:
            self._check_later()

    def _release(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers = []
        if self._window is not None:
            self._window.set()
            self._window = None


class Ingest:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        on_stored: Callable[[], None] | None = None,
        priority: AckPriority | None = None,
    ) -> None:
        """`priority`: told of every request waiting for its commit (shared with the workers)."""
        self._clock = clock
        self._on_stored = on_stored
        self._priority = priority or AckPriority()
        # Urgent: each of these batches is a webhook request waiting for its 200.
        self._group: GroupCommit[Sequence[IncomingEvent], int] = GroupCommit(
            db, self._add, name="ingest", log=log, urgent=True
        )
        self._running = False

    def start(self) -> None:
        self._running = True

    async def stop(self) -> None:
        """Commit what is queued; take nothing more."""
        self._running = False
        await self._group.drain()

    async def store(self, events: Sequence[IncomingEvent]) -> int:
        """Return once the events are committed: the number that were new (duplicates are skipped)."""
        if not events:
            return 0
        if not self._running:
            raise RuntimeError("ingest is not running")
        self._priority.request_started()
        try:
            added = await self._group.submit(events)
        finally:
            self._priority.request_done()
        if added and self._on_stored is not None:
            self._on_stored()
        return added

    async def _add(self, tx: Repositories, events: Sequence[IncomingEvent]) -> int:
        return await tx.inbox.add(events, self._clock())
