"""Drives the whole bot in-process over real HTTP, with the fake LINE platform on loopback."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import sqlite3
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp

from bot.config import Settings, load_settings
from bot.logs import setup_logging
from bot.sandbox.line_webhook import post_webhook
from bot.sandbox.loopback import post
from storage import Repositories

ROOT = Path(__file__).resolve().parent.parent
LINE_SECRET = "test-line-channel-secret"
LINE_TOKEN = "test-access-token"
SLACK_SIGNING_SECRET = "test-slack-signing-secret"


def write_config(
    tmp_path: Path,
    line_base_url: str,
    extra: str = "",
    *,
    base_delay: float = 0.05,
    max_attempts: int = 4,
    slack_api_url: str = "http://127.0.0.1:9/api/",
    post_interval: float = 0.02,
    slack_staff: tuple[str, ...] = (),
) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[server]
host = "127.0.0.1"
port = 0
max_body_bytes = 65536
[storage]
path = "madoguchi.sqlite3"
[line]
channel_secret = "{LINE_SECRET}"
channel_access_token = "{LINE_TOKEN}"
api_base_url = "{line_base_url}"
data_api_base_url = "{line_base_url}"
[slack]
mode = "http"
bot_token = "xoxb-test"
signing_secret = "{SLACK_SIGNING_SECRET}"
api_base_url = "{slack_api_url}"
default_channel = "C_DEFAULT"
post_interval_seconds = {post_interval}
staff = {json.dumps(list(slack_staff))}
[delivery]
max_attempts = {max_attempts}
base_delay_seconds = {base_delay}
max_delay_seconds = {max(0.5, base_delay * 4)}
{extra}
""",
        encoding="utf-8",
    )
    return path


def run_sql(path: Path, script: str) -> None:
    """Statements on the database file from a connection of its own (as another process would): to
    make writes fail on demand, to break or inspect what the bot stored."""
    # A long busy timeout: a bot retrying on a broken disk takes the lock again and again, and SQLite's
    # busy handler (sleeps between tries) can wait past the default 5 s behind it.
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        conn.executescript(script)
    finally:
        conn.close()


def hold_database(path: Path) -> threading.Event:
    """Another connection (as another process would) takes the database's write lock with
    BEGIN IMMEDIATE and keeps it until the returned event is set."""
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        locked.set()
        release.wait()
        conn.execute("COMMIT")
        conn.close()

    threading.Thread(target=hold, daemon=True).start()
    locked.wait()
    return release


def settings_for(tmp_path: Path, line_base_url: str, extra: str = "", **delivery: Any) -> Settings:
    return load_settings(write_config(tmp_path, line_base_url, extra, **delivery), environ={})


async def post_events(
    base_url: str,
    events: list[dict[str, Any]],
    secret: str = LINE_SECRET,
    session: aiohttp.ClientSession | None = None,
) -> tuple[int, str]:
    return await post_webhook(f"{base_url}/line/webhook", secret, events, session=session)


async def post_raw(
    base_url: str, body: bytes, headers: dict[str, str], session: aiohttp.ClientSession | None = None
) -> tuple[int, str]:
    return await post(f"{base_url}/line/webhook", body, headers, session)


async def wait_for(check: Callable[[], Awaitable[bool]] | Callable[[], bool], within: float = 10.0) -> None:
    """Poll until `check` is true; fail the test after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def start_serve(
    config: Path, env: dict[str, str] | None = None
) -> tuple[asyncio.subprocess.Process, str, list[str]]:
    """`python -m bot serve` as a real process; returns it, its base URL and its log lines so far."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "serve", "--config", str(config),
        cwd=ROOT, env={**os.environ, **(env or {})},
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    lines: list[str] = []
    while True:
        line = (await asyncio.wait_for(process.stderr.readline(), timeout=20)).decode()
        assert line, f"server exited early: {lines}"
        lines.append(line)
        found = re.search(r"event=server.started address=(http://\S+)", line)
        if found:
            return process, found.group(1), lines


class ServerLog:
    """What the server logged during a test, formatted as `serve` writes it."""

    def __init__(self, stream: io.StringIO, marker: str) -> None:
        self._stream = stream
        self._marker = marker

    @property
    def text(self) -> str:
        return self._stream.getvalue()

    def assert_clean(self) -> None:
        """No traceback at all, no error line, and not a trace of the marker."""
        text = self.text
        assert self._marker not in text, text
        assert "traceback=" not in text and "Traceback" not in text, text
        assert "level=error" not in text, text


@contextmanager
def captured_log(marker: str, loud: Sequence[str] = ()) -> Iterator[ServerLog]:
    """The log exactly as `serve` writes it (same format, same quiet third-party loggers); `loud`
    turns named loggers up to INFO, as an operator chasing a problem would."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    saved_levels = {name: logging.getLogger(name).level for name in logging.root.manager.loggerDict}
    stream = io.StringIO()
    setup_logging("INFO", stream)
    for name in loud:
        logging.getLogger(name).setLevel(logging.INFO)
    try:
        yield ServerLog(stream, marker)
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)


async def event_answered(read: Repositories, line_user_id: str, event: dict[str, Any]) -> bool:
    """The event is handled (its inbox row done) and every row to the citizen has been accepted by LINE."""
    handled = any(
        i.event_id == event["webhookEventId"] and i.status == "done"
        for i in await read.inbox.for_key(f"line:{line_user_id}")
    )
    rows = await read.outbox.in_order(f"line:{line_user_id}")
    return handled and all(r.status == "sent" for r in rows)
