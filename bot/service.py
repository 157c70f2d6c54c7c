"""`madoguchi serve`: run the Runtime until SIGTERM or Ctrl-C, then shut down in order."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal

from bot.config import Settings
from bot.runtime import Runtime

log = logging.getLogger("madoguchi.service")


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with Runtime(settings):
            _settle_memory()
            await stop.wait()
            log.info("server.stopping")
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


def _settle_memory() -> None:
    """Put what starting made (modules, the SDKs' classes, settings, the holiday tables: ~200,000
    objects that live as long as the process) out of the garbage collector's sight. Otherwise each
    full collection walks them all with the event loop stopped: 85-100 ms, now and then in the middle
    of a burst of webhooks (docs/performance.md). Garbage from starting is collected first, so none
    is kept for good."""
    gc.collect()
    gc.freeze()
