"""`madoguchi serve`: run the Runtime until SIGTERM or Ctrl-C, then shut down in order."""

from __future__ import annotations

import asyncio
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
        async with Runtime(settings, settle_memory=True):
            await stop.wait()
            log.info("server.stopping")
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
