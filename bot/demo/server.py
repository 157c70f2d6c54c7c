"""`madoguchi demo`: one web page on loopback, in front of the demo world.

The page is static (bot/demo/static/); it polls `GET /api/state` and acts through small JSON
endpoints. Only loopback: the server binds 127.0.0.1 (or ::1), refuses a request whose Host header
names anything else (a DNS-rebinding page cannot drive it), and takes actions only as JSON, which a
cross-site form cannot send.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from aiohttp import web

from bot.demo.world import DemoError, DemoWorld
from bot.logs import fields
from bot.sandbox.loopback import wire_json
from bot.text_input import make_storable

log = logging.getLogger("madoguchi.demo")

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
STATIC = {
    "/": ("index.html", "text/html"),
    "/app.js": ("app.js", "text/javascript"),
    "/style.css": ("style.css", "text/css"),
}
MAX_REQUEST = 64 * 1024

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class LoopbackOnly(ValueError):
    pass


def check_host(host: str) -> str:
    if host not in LOOPBACK_HOSTS:
        raise LoopbackOnly(f"--host {host}: the demo serves loopback only ({', '.join(LOOPBACK_HOSTS)})")
    return "127.0.0.1" if host == "localhost" else host


def _static(name: str) -> bytes:
    return resources.files("bot.demo").joinpath("static", name).read_bytes()


def _json(payload: Any, status: int = 200) -> web.Response:
    # The fakes may hold half an emoji as the platforms send it (a Slack name, say): escaped, the
    # page still gets UTF-8 it can read, where ensure_ascii=False made every later /api/state a 500.
    return web.json_response(payload, status=status, dumps=wire_json)


class DemoServer:
    def __init__(self, world: DemoWorld, host: str = "127.0.0.1", port: int = 8080) -> None:
        self.world = world
        self.host = check_host(host)
        self.port = port
        self._runner: web.AppRunner | None = None
        self._lock = asyncio.Lock()

    @property
    def url(self) -> str:
        assert self._runner is not None and self._runner.addresses
        host, port = self._runner.addresses[0][:2]
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_REQUEST, middlewares=[self._guard])
        for path in STATIC:
            app.router.add_get(path, self._page)
        app.router.add_get("/api/state", self._state)
        app.router.add_get("/api/richmenu.png", self._richmenu)
        routes: dict[str, Callable[[dict[str, Any]], Awaitable[Any]]] = {
            "/api/line/text": self._line_text,
            "/api/line/postback": self._line_postback,
            "/api/slack/action": self._slack_action,
            "/api/slack/submit": self._slack_submit,
            "/api/slack/close": self._slack_close,
            "/api/slack/message": self._slack_message,
            "/api/slack/command": self._slack_command,
            "/api/slack/home": self._slack_home,
            "/api/clock": self._clock,
        }
        for path, act in routes.items():
            app.router.add_post(path, self._action(act))
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=1.0, handle_signals=False)
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, self.host, self.port).start()
        except BaseException:
            await self._runner.cleanup()
            self._runner = None
            raise

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- guard -------------------------------------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        host = request.host.rsplit(":", 1)[0] if not request.host.endswith("]") else request.host
        host = host.strip("[]")
        if host not in LOOPBACK_HOSTS:
            return web.Response(status=403, text="loopback only\n")
        if request.method == "POST" and request.content_type != "application/json":
            return web.Response(status=415, text="JSON only\n")
        response = await handler(request)
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'"
        )
        return response

    # -- pages ---------------------------------------------------------------------------

    async def _page(self, request: web.Request) -> web.Response:
        name, content_type = STATIC[request.path]
        return web.Response(body=_static(name), content_type=content_type, charset="utf-8")

    async def _state(self, _request: web.Request) -> web.Response:
        return _json(self.world.state())

    async def _richmenu(self, _request: web.Request) -> web.Response:
        image = self.world.rich_menu_image()
        if image is None:
            return web.Response(status=404)
        return web.Response(body=image[0], content_type=image[1])

    # -- actions -------------------------------------------------------------------------

    def _action(self, act: Callable[[dict[str, Any]], Awaitable[Any]]) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            try:
                payload = await request.json()
            except (ValueError, RecursionError):  # RecursionError: [[[[… nested past Python's stack
                return _json({"error": "invalid JSON"}, 400)
            if not isinstance(payload, dict):
                return _json({"error": "a JSON object is expected"}, 400)
            # Half an emoji (a lone \ud83d escape) becomes U+FFFD, as the bot's own intake does:
            # the page then shows what the bot keeps, and nothing downstream has to encode it.
            make_storable(payload)
            try:
                # One act at a time, as one person clicks: the page's state stays in step.
                async with self._lock:
                    result = await act(payload)
            except (DemoError, KeyError, TypeError, ValueError) as exc:
                log.info("demo.refused", extra=fields(path=request.path, reason=type(exc).__name__))
                return _json({"error": str(exc) or type(exc).__name__}, 400)
            return _json({"ok": True, **(result or {})})

        return handler

    async def _line_text(self, p: dict[str, Any]) -> None:
        await self.world.citizen_text(str(p["user"]), str(p["text"]))

    async def _line_postback(self, p: dict[str, Any]) -> None:
        display = p.get("display")
        await self.world.citizen_postback(str(p["user"]), str(p["data"]), str(display) if display else None)

    async def _slack_action(self, p: dict[str, Any]) -> None:
        await self.world.staff_action(
            str(p["user"]),
            str(p["action_id"]),
            str(p.get("value", "")),
            channel=p.get("channel"),
            ts=p.get("ts"),
            view_id=p.get("view_id"),
            block_id=p.get("block_id"),
            text=str(p.get("text") or "button"),
        )

    async def _slack_submit(self, p: dict[str, Any]) -> None:
        values = p.get("values") or {}
        if not isinstance(values, dict) or not all(isinstance(v, dict) for v in values.values()):
            raise DemoError("values must be {block_id: {action_id: text}}")
        clean = {str(b): {str(a): str(t) for a, t in actions.items()} for b, actions in values.items()}
        await self.world.submit_view(str(p["user"]), str(p["view_id"]), clean)

    async def _slack_close(self, p: dict[str, Any]) -> None:
        self.world.close_view(str(p["user"]), str(p["view_id"]))

    async def _slack_message(self, p: dict[str, Any]) -> None:
        thread = p.get("thread_ts")
        await self.world.staff_message(
            str(p["user"]), str(p["channel"]), str(p["text"]), str(thread) if thread else None
        )

    async def _slack_command(self, p: dict[str, Any]) -> None:
        await self.world.staff_command(str(p["user"]), str(p["channel"]), str(p.get("text", "")))

    async def _slack_home(self, p: dict[str, Any]) -> None:
        await self.world.open_home(str(p["user"]))

    async def _clock(self, p: dict[str, Any]) -> dict[str, int]:
        minutes = p["minutes"]
        if not isinstance(minutes, int) or isinstance(minutes, bool):  # 1e999 is inf: no int()
            raise DemoError("minutes must be a whole number")
        return await self.world.advance(minutes)


async def run_demo(host: str = "127.0.0.1", port: int = 8080, stop: asyncio.Event | None = None) -> None:
    """Start everything, print the address, and run until SIGINT/SIGTERM (or `stop`)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    world = DemoWorld()
    server = DemoServer(world, host, port)
    try:
        await world.start()
        try:
            await server.start()
            print(f"madoguchi demo: open {server.url}  (Ctrl-C stops it)", flush=True)
            log.info("demo.started", extra=fields(address=server.url))
            await stop.wait()
            log.info("demo.stopping")
        finally:
            await server.stop()
            await world.stop()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
