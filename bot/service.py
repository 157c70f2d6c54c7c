"""The running service: opens storage, serves HTTP, and shuts down in order on a signal."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from bot.config import Settings
from bot.logs import fields
from bot.server import build_app
from storage import Database
from storage.wards import WardCenterSpec

log = logging.getLogger("madoguchi.service")


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run until `stop` is set or SIGTERM/SIGINT arrives; then stop accepting, drain, close, return."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    db = await Database.open(settings.database_path, settings.storage.busy_timeout_ms)
    runner: web.AppRunner | None = None
    try:
        async with db.transaction() as tx:
            await tx.wards.sync(
                [WardCenterSpec(w.ward, w.name, w.slack_channel, w.line_group_id) for w in settings.wards]
            )
        app = build_app(db, settings.server.max_body_bytes)
        runner = web.AppRunner(
            app,
            access_log=None,
            shutdown_timeout=settings.server.shutdown_timeout_seconds,
            handle_signals=False,
        )
        await runner.setup()
        site = web.TCPSite(runner, settings.server.host, settings.server.port)
        await site.start()
        log.info("server.started", extra=fields(address=_address(runner), database=settings.database_path))
        await stop.wait()
        log.info("server.stopping")
    finally:
        if runner is not None:
            # Closes the listening socket first, then waits for requests in flight.
            await runner.cleanup()
        await db.close()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        log.info("server.stopped")


def _address(runner: web.AppRunner) -> str:
    addresses = runner.addresses
    if not addresses:
        return "?"
    host, port = addresses[0][:2]
    return f"http://{host}:{port}"
