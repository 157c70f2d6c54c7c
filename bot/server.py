"""The aiohttp application: the HTTP routes of `madoguchi serve`."""

from __future__ import annotations

from aiohttp import web, web_response

from bot import __version__
from storage import Database

DB_KEY = web.AppKey("db", Database)

# What every answer says in `Server:`; aiohttp's own ("Python/3.11 aiohttp/3.14.5") tells a scanner
# which CVEs to try.
SERVER_NAME = "madoguchi"


def build_app(db: Database, max_body_bytes: int) -> web.Application:
    # aiohttp has no option for this (aio-libs/aiohttp#3140, #8870), so its default is replaced: each
    # response reads it as it sends its headers. The on_response_prepare signal would miss the 400
    # to a request aiohttp cannot parse (refused before routing), exactly what scanners send.
    web_response.SERVER_SOFTWARE = SERVER_NAME  # type: ignore[attr-defined]
    app = web.Application(client_max_size=max_body_bytes)
    app[DB_KEY] = db
    app.router.add_get("/healthz", healthz)
    return app


async def healthz(request: web.Request) -> web.Response:
    """200 when the database answers; 503 otherwise, so a supervisor can restart us."""
    ok = await request.app[DB_KEY].ping()
    body = {
        "status": "ok" if ok else "unavailable",
        "database": "ok" if ok else "error",
        "version": __version__,
    }
    return web.json_response(body, status=200 if ok else 503)
