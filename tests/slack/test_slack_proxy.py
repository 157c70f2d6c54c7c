"""Slack is reached the way the environment says, NO_PROXY included, as LINE is (review 40, R11).

slack_sdk reads HTTPS_PROXY/HTTP_PROXY itself and ignores NO_PROXY, in our client, in the client Bolt
builds for each request (its auth.test) and in the Socket Mode client. A forwarding proxy on loopback
stands between the bot and the fake Slack and remembers what went through it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.slack_signing import block_action
from tests.harness import wait_for
from tests.line.test_line_proxy import ForwardingProxy, proxy  # noqa: F401  (the fixture)
from tests.slack.staff_desk import STAFF, case_with_card, staff_desk
from tests.slack.test_desk_e2e import Desk
from tests.slack.test_socket_mode import socket_settings

PROXY_VARIABLES = ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")


def office(monkeypatch: pytest.MonkeyPatch, proxy_url: str, no_proxy: str | None) -> None:
    """An office PC: every proxy variable names the proxy; NO_PROXY as given."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", proxy_url)
    monkeypatch.setenv("HTTP_PROXY", proxy_url)
    if no_proxy is not None:
        monkeypatch.setenv("NO_PROXY", no_proxy)


async def claim(desk: Desk) -> None:
    """A card posted (our client) and a button pressed (Bolt's auth.test, then our client)."""
    case = await case_with_card(desk)
    trigger = desk.slack.issue_trigger_id(STAFF)
    body = block_action(STAFF, "case_claim", str(case.id), "C_NPO", case.slack_ts, trigger_id=trigger)
    assert (await desk.post(body))[0] == 200
    assert (await desk.case()).assignee == STAFF


async def test_hosts_named_in_no_proxy_are_reached_directly(
    tmp_path: Path,
    proxy: ForwardingProxy,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    office(monkeypatch, proxy.url, "127.0.0.1,localhost,::1")
    async with staff_desk(tmp_path, "staff-list") as desk:
        await claim(desk)
        assert desk.slack.find_calls("auth.test") and desk.slack.find_calls("chat.postMessage")
    assert proxy.targets == []


async def test_every_slack_call_goes_through_the_proxy_the_environment_names(
    tmp_path: Path,
    proxy: ForwardingProxy,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    office(monkeypatch, proxy.url, None)
    async with staff_desk(tmp_path, "staff-list") as desk:
        await claim(desk)
        api = desk.slack.api_url

        def methods() -> set[str]:
            return {t.removeprefix(api).split("?")[0] for t in proxy.targets if t.startswith(api)}

        await wait_for(lambda: {"auth.test", "chat.postMessage", "chat.update"} <= methods())


async def test_socket_mode_honours_no_proxy_and_uses_the_proxy_otherwise(
    tmp_path: Path,
    proxy: ForwardingProxy,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app_token = "xapp-1-A0TEST-0000-proxy"
    (tmp_path / "direct").mkdir()
    (tmp_path / "proxied").mkdir()
    office(monkeypatch, proxy.url, "127.0.0.1,localhost")
    async with FakeLine(access_token="test-access-token") as line, FakeSlack(app_token=app_token) as slack:
        async with Runtime(socket_settings(tmp_path / "direct", line, slack, app_token)):
            await asyncio.wait_for(slack.socket_connected.wait(), 5)
        assert proxy.targets == []

    monkeypatch.delenv("NO_PROXY")
    async with FakeLine(access_token="test-access-token") as line, FakeSlack(app_token=app_token) as slack:
        async with Runtime(socket_settings(tmp_path / "proxied", line, slack, app_token)):
            # The forwarding proxy cannot upgrade to a websocket: it is enough that the websocket was asked of it.
            await wait_for(lambda: any("/socket-mode/" in t for t in proxy.targets))
        assert any(t.endswith("apps.connections.open") for t in proxy.targets)
