"""An error answer whose body repeats what was sent (a proxy or WAF in front of LINE or Slack may do
so) reaches neither the log, nor the ops alert posted to Slack, nor outbox.last_error: only the status,
LINE's own fixed texts and the property names are kept. And a deletion clears the error texts of the
rows it forgets, as an older version stored them unfiltered."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from linebot.v3.messaging import ApiException
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock, utc_now
from bot.config import Settings, load_settings
from bot.delivery import RetryPolicy, Sender
from bot.line.api import LineApi, error_message
from bot.line.sender import LineSender
from bot.ops_alerts import OPS_ORDER_KEY, OpsAlerts
from bot.outbox_worker import OutboxWorker
from bot.sandbox.loopback import LoopbackServer
from bot.slack.sender import SlackSender
from flows.texts import Texts
from storage import Database
from storage.cases import NewCase
from storage.outbox_rows import ChannelPost, LineMessages
from tests.conftest import NOW
from tests.harness import captured_log, wait_for, write_config
from tests.test_retention import file_bytes

# What the citizen (or staff) wrote: a name, a phone number in ASCII, the matter.
NAME, PHONE, MATTER = "山田花子", "090-1234-5678", "離婚の相談"
SENT = f"{NAME} {PHONE} {MATTER}"
OPS = "C_OPS"


class Echo(LoopbackServer):
    """A server that refuses every request with a JSON body quoting the first text it was sent."""

    def __init__(self, status: int, shape: Callable[[str], dict[str, Any]]) -> None:
        super().__init__()
        self._status = status
        self._shape = shape

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.text()
        sent = raw  # Slack's form-encoded body: quoted whole
        with contextlib.suppress(ValueError, KeyError, IndexError, TypeError):
            sent = str(json.loads(raw)["messages"][0]["text"])
        body = json.dumps(self._shape(sent), ensure_ascii=False)
        return web.Response(status=self._status, text=body, content_type="application/json")


def line_waf(sent: str) -> dict[str, Any]:
    return {
        "message": f"Request blocked: {sent}",
        "details": [{"message": f"invalid text: {sent}", "property": "messages[0].text"}],
    }


def settings_with_ops(tmp_path: Path, line_url: str, **delivery: Any) -> Settings:
    path = write_config(tmp_path, line_url, **delivery)
    text = path.read_text(encoding="utf-8").replace("[slack]\n", f'[slack]\nops_channel = "{OPS}"\n', 1)
    path.write_text(text, encoding="utf-8")
    return load_settings(path, environ={})


@pytest.fixture
async def waf() -> AsyncIterator[Callable[..., Awaitable[str]]]:
    servers: list[Echo] = []

    async def start(status: int, shape: Callable[[str], dict[str, Any]] = line_waf) -> str:
        server = Echo(status, shape)
        await server.start()
        servers.append(server)
        return server.base_url

    yield start
    for server in servers:
        await server.close()


async def deliver(db: Database, clock: Clock, settings: Settings, senders: dict[str, Sender]) -> None:
    alerts = OpsAlerts(db, settings, Texts.load(), clock, on_queued=lambda: None)
    policy = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.02)
    worker = OutboxWorker(db, clock, senders, policy, alerts=alerts)
    worker.start()
    try:

        async def settled() -> bool:
            return not await db.read.outbox.due(clock() + timedelta(days=1), list(senders))

        await wait_for(settled)
    finally:
        await worker.stop()


def kept_anywhere(log: str, *texts: str | None) -> list[str]:
    where = "\n".join([log, *(t or "" for t in texts)])
    return [part for part in (NAME, PHONE, MATTER) if part in where]


@pytest.mark.parametrize("status", [400, 500])
async def test_a_line_error_body_quoting_the_message_is_not_repeated(
    db: Database, tmp_path: Path, waf: Any, status: int
) -> None:
    """400: refused for good (failed, alerted); 500: retried, then dead (alerted)."""
    settings = settings_with_ops(tmp_path, await waf(status))
    clock = utc_now  # the retry after the 500 comes due
    async with db.transaction() as tx:
        row = await tx.outbox.add(LineMessages([{"type": "text", "text": SENT}]), "U_HANAKO", clock())
    with captured_log("never-logged") as log:
        async with LineApi(settings.line) as api:
            await deliver(db, clock, settings, {"line": LineSender(api, db, clock)})
    stored = await db.read.outbox.get(row.id)
    assert stored is not None and stored.status == ("failed" if status == 400 else "dead")
    alerts = [m.payload for m in await db.read.outbox.in_order(OPS_ORDER_KEY)]
    assert alerts, "the failure was reported to the ops channel"
    assert kept_anywhere(log.text, stored.last_error, *alerts) == []
    # What is kept still tells ops what went wrong.
    assert f"HTTP {status}" in (stored.last_error or "") and "messages[0].text" in (stored.last_error or "")
    assert "unrecognised error text withheld" in (stored.last_error or "")


def test_lines_own_texts_are_kept_whole() -> None:
    error = ApiException(status=400, reason="Bad Request")
    error.body = json.dumps(
        {
            "message": "The request body has 2 error(s)",
            "details": [
                {"message": "Length must be between 0 and 5000", "property": "messages[0].text"},
                {
                    "message": "Must be one of the following values: [text, image]",
                    "property": "messages[1].type",
                },
            ],
        }
    )
    assert error_message(error) == (
        "The request body has 2 error(s) (messages[0].text: Length must be between 0 and 5000;"
        " messages[1].type: Must be one of the following values: [text, image])"
    )
    error.body = json.dumps(
        {"message": f"invalid text: {PHONE}", "details": [{"message": "Hanako", "property": "x y"}]}
    )
    assert error_message(error) == "unrecognised error text withheld (?: withheld)"


async def test_a_slack_error_body_quoting_the_post_is_not_repeated(
    db: Database, tmp_path: Path, waf: Any
) -> None:
    url = await waf(200, lambda sent: {"ok": False, "error": f"invalid_text: {sent}"})
    settings = settings_with_ops(tmp_path, "http://127.0.0.1:9")
    clock = lambda: NOW  # noqa: E731
    client = AsyncWebClient(token="xoxb-test", base_url=url + "/")
    async with db.transaction() as tx:
        row = await tx.outbox.add(ChannelPost(SENT), "C_EVENTS", NOW)
    with captured_log("never-logged") as log:
        await deliver(
            db, clock, settings, {"slack": SlackSender(client, db, settings, Texts.load(), clock=clock)}
        )
    stored = await db.read.outbox.get(row.id)
    assert stored is not None and stored.status == "failed"
    assert kept_anywhere(log.text, stored.last_error) == []
    assert stored.last_error == "slack: unrecognised error"


async def test_a_deletion_clears_the_error_texts_of_the_rows_it_forgets(db: Database) -> None:
    """Rows refused before this version kept the body's words in last_error."""
    async with db.transaction() as tx:
        user = await tx.users.mark_followed("U_HANAKO", NOW)
        case = await tx.cases.create(
            NewCase(user.id, "general", "individual", NAME, "line", MATTER), NOW, 2026
        )
        mine = await tx.outbox.add(LineMessages([{"type": "text", "text": SENT}]), "U_HANAKO", NOW)
        about = await tx.outbox.add(ChannelPost("x"), "C_CASES", NOW, case_id=case.id)
        waiting = await tx.outbox.add(LineMessages([{"type": "text", "text": "続き"}]), "U_HANAKO", NOW)
        await tx.outbox.finish(mine.id, "failed", f"HTTP 400: invalid text: {SENT}")
        await tx.outbox.finish(about.id, "dead", f"slack: {PHONE}")
        await tx.outbox.retry_later(waiting.id, NOW, f"HTTP 500: {MATTER}")
    async with db.transaction() as tx:
        await tx.outbox.forget("line:U_HANAKO", "deleted on request")
        await tx.outbox.forget_case(case.id, "anonymised: request")
        await tx.cases.anonymise(case.id, NOW, "request")
        tx.checkpoint_after_commit()
    rows = [await db.read.outbox.get(i) for i in (mine.id, about.id, waiting.id)]
    assert [(r.status, r.last_error) for r in rows if r] == [
        ("failed", None),
        ("dead", None),
        ("cancelled", "deleted on request"),
    ]
    assert PHONE.encode() not in file_bytes(db.path) and MATTER.encode() not in file_bytes(db.path)


class BadGateway(LoopbackServer):
    """A proxy's error page for every call: HTTP 502, said to be JSON, but HTML."""

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        page = f"<html>502 Bad Gateway: {SENT}</html>"
        return web.Response(status=502, text=page, content_type="application/json")


async def test_a_slack_answer_that_is_not_the_json_it_claims_is_retried(db: Database, tmp_path: Path) -> None:
    """The SDK then leaves aiohttp's response in its error (`status`, no `status_code`): the row is
    retried like any 502, not failed for good by an AttributeError."""
    settings = settings_with_ops(tmp_path, "http://127.0.0.1:9")
    clock = lambda: NOW  # noqa: E731
    async with db.transaction() as tx:
        row = await tx.outbox.add(ChannelPost(SENT), "C_EVENTS", NOW)
    async with BadGateway() as proxy:
        client = AsyncWebClient(token="xoxb-test", base_url=proxy.base_url + "/")
        sender = SlackSender(client, db, settings, Texts.load(), clock=clock)
        policy = RetryPolicy(max_attempts=5, base_delay=60, max_delay=60)
        worker = OutboxWorker(db, clock, {"slack": sender}, policy)
        with captured_log("never-logged") as log:
            worker.start()
            try:

                async def tried() -> bool:
                    current = await db.read.outbox.get(row.id)
                    return current is not None and current.attempts == 1 and current.last_error is not None

                await wait_for(tried)
            finally:
                await worker.stop()
    stored = await db.read.outbox.get(row.id)
    assert stored is not None and stored.status == "pending"  # due again in a minute
    assert stored.last_error == "HTTP 502"
    assert kept_anywhere(log.text, stored.last_error) == []
