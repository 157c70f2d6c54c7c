"""The aiohttp application: the HTTP routes of `madoguchi serve`."""

from __future__ import annotations

from aiohttp import web

from bot import __version__
from storage import Database

DB_KEY = web.AppKey("db", Database)


def build_app(db: Database, max_body_bytes: int) -> web.Application:
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
