"""A refusal whose body is not Slack's (a proxy or WAF in front of slack.com quoting the request) is
never logged or shown word for word, from any place that reports a Slack error: only Slack's own error
codes are (bot/slack/errors.py). The outbox sender's case is in tests/line/test_error_text_withheld.py."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from aiohttp import web
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox.fake_line import FakeLine
from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.loopback import LoopbackServer
from bot.slack.staff_check import StaffCheck
from bot.slack.tell import open_view, tell
from tests.conftest import NOW
from tests.harness import captured_log
from tests.test_doctor import doctor, slack, write

__all__ = ["slack"]  # the fixture, doctor's fake Slack

NAME, PHONE, MATTER = "山田花子", "090-1234-5678", "離婚の相談"
SENT = f"{NAME}さん {PHONE} {MATTER}"
BLOCKED = "Request blocked by policy"


class Waf(LoopbackServer):
    """Refuses every Slack call but auth.test as Slack would (HTTP 200, ok false), with an `error`
    that quotes what the request sent: its parameters and its token."""

    broken = False  # answer JSON's content type with a body that is not JSON (an HTML page)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.text()
        if self.broken:
            return web.Response(text=f"<html>{BLOCKED}: {raw}</html>", content_type="application/json")
        try:
            sent = [str(v) for v in json.loads(raw).values()]
        except ValueError:
            sent = [v for _, v in parse_qsl(raw)]
        if request.path.endswith("/auth.test"):
            body = {"ok": True, "user_id": "U_BOT", "user": "madoguchi", "team": "center"}
        else:
            quoted = " ".join([*sent, request.headers.get("Authorization", "")])
            body = {"ok": False, "error": f"{BLOCKED}: {quoted}"}
        return web.json_response(body, dumps=lambda b: json.dumps(b, ensure_ascii=False))


@pytest.fixture
async def waf() -> AsyncIterator[Waf]:
    async with Waf() as server:
        yield server


def client_of(waf: Waf) -> AsyncWebClient:
    return AsyncWebClient(token="xoxb-secret-token", base_url=waf.base_url + "/")


def withheld(text: str) -> None:
    for quoted in (BLOCKED, NAME, PHONE, MATTER, "xoxb-secret-token"):
        assert quoted not in text
    assert "unrecognised error" in text


async def test_an_ephemeral_line_refused_is_logged_by_code_only(waf: Waf) -> None:
    with captured_log("never-logged") as log:
        await tell(client_of(waf), "U_STAFF", "C_CASES", f"案件の連絡先: {SENT}")
    assert "slack.ephemeral_failed" in log.text
    withheld(log.text)


async def test_a_body_that_is_no_json_is_logged_as_a_refusal_without_code(waf: Waf) -> None:
    """The SDK then leaves its raw HTTP response in the error, without `data`."""
    waf.broken = True
    with captured_log("never-logged") as log:
        await tell(client_of(waf), "U_STAFF", "C_CASES", f"案件の連絡先: {SENT}")
    assert "slack.ephemeral_failed" in log.text and "error=SlackApiError" in log.text
    for quoted in (BLOCKED, NAME, PHONE, MATTER):
        assert quoted not in log.text


async def test_a_modal_refused_is_logged_by_code_only(waf: Waf) -> None:
    view = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "回答"},
        "blocks": [{"type": "section", "text": {"type": "plain_text", "text": SENT}}],
    }
    with captured_log("never-logged") as log:
        opened = await open_view(client_of(waf), "trigger", view, "U_STAFF", None, "開けませんでした")
    assert not opened
    assert "slack.view_open_failed" in log.text
    withheld(log.text)


async def test_a_member_check_refused_is_logged_by_code_only(waf: Waf) -> None:
    check = StaffCheck(client_of(waf), (), lambda: NOW)
    with captured_log("never-logged") as log:
        assert await check.members("C_CASES") is None
    assert "slack.staff_check_failed" in log.text
    withheld(log.text)


async def test_doctor_shows_slacks_codes_only(
    tmp_path: Path, line: FakeLine, slack: FakeSlack, waf: Waf, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path, line, slack)  # doctor's own test configuration, with Slack behind the WAF
    config.write_text(config.read_text(encoding="utf-8").replace(slack.api_url, waf.base_url + "/"))
    code, out = await doctor(config, capsys)
    assert code == 2
    assert "apps.connections.open answered unrecognised error" in out
    assert "conversations.info answered unrecognised error" in out
    for quoted in (BLOCKED, slack.bot_token, slack.app_token):
        assert quoted not in out
