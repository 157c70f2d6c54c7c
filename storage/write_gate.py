"""A mutex for the single writer connection, with an urgent lane.

Webhook acknowledgements wait for their events to be committed; background work (handling events,
recording deliveries) must not make them wait in line behind dozens of its own transactions. So
urgent waiters are always served before ordinary ones; within a lane, first come first served.
"""

from __future__ import annotations

import asyncio
from collections import deque


class WriteGate:
    def __init__(self) -> None:
        self._held = False
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._normal: deque[asyncio.Future[None]] = deque()

    async def acquire(self, urgent: bool = False) -> None:
        if not self._held and not self._urgent and not self._normal:
            self._held = True
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        lane = self._urgent if urgent else self._normal
        lane.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # we were handed the gate as we were cancelled: pass it on
            else:
                lane.remove(waiter)
            raise

    def urgent_waiting(self) -> bool:
        return any(not waiter.done() for waiter in self._urgent)

    def release(self) -> None:
        """Hand the gate straight to the next waiter (urgent first), or open it."""
        for lane in (self._urgent, self._normal):
            while lane:
                waiter = lane.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    return
        self._held = False
