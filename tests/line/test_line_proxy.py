"""The LINE API is reached through the proxy the environment names, as the SDK's own client does.

The bot's client looks the proxy up once when it starts (the SDK's looks it up on a worker thread
for every request). A small forwarding proxy on loopback stands between the bot and the fake LINE.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from linebot.v3.messaging import ApiException
from yarl import URL

from bot.config import ConfigError
from bot.line.api import LineApi, ProfileUnavailable, environment_proxy
from bot.line_commands import platform_error
from bot.sandbox.fake_line import FakeLine
from tests.harness import settings_for

TEXT = [{"type": "text", "text": "こんにちは"}]


class ForwardingProxy:
    """An HTTP proxy: takes absolute-form requests, forwards them, and remembers their targets."""

    def __init__(self) -> None:
        self.targets: list[str] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        target = str(request.url) if request.url.is_absolute() else ""
        self.targets.append(target)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        async with (
            aiohttp.ClientSession(trust_env=False) as session,
            session.request(request.method, target, headers=headers, data=await request.read()) as answer,
        ):
            return web.Response(
                status=answer.status, body=await answer.read(), content_type=answer.content_type
            )


@pytest.fixture
async def proxy() -> AsyncIterator[ForwardingProxy]:
    forwarding = ForwardingProxy()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forwarding.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    forwarding.url = f"http://127.0.0.1:{port}"
    yield forwarding
    await runner.cleanup()


async def test_replies_and_pushes_go_through_the_proxy_the_environment_names(
    tmp_path: Path, line: FakeLine, proxy: ForwardingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    async with LineApi(settings_for(tmp_path, line.base_url).line) as api:
        await api.reply(line.issue_reply_token("U_HANAKO"), TEXT)
        await api.push("U_HANAKO", TEXT, "00000000-0000-4000-8000-000000000001")
        assert await api.display_name("U_HANAKO") is not None

    assert proxy.targets == [
        f"{line.base_url}/v2/bot/message/reply",
        f"{line.base_url}/v2/bot/message/push",
        f"{line.base_url}/v2/bot/profile/U_HANAKO",
    ]
    assert len(line.sent_messages("U_HANAKO")) == 2


async def test_hosts_named_in_no_proxy_are_reached_directly(
    tmp_path: Path, line: FakeLine, proxy: ForwardingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    async with LineApi(settings_for(tmp_path, line.base_url).line) as api:
        await api.reply(line.issue_reply_token("U_HANAKO"), TEXT)

    assert proxy.targets == []
    assert len(line.sent_messages("U_HANAKO")) == 1


def test_the_proxy_is_chosen_by_the_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_PROXY", "no_proxy", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://bot:secret@proxy.example.jp:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://plain.example.jp:8080")
    proxy, credentials = environment_proxy("https://api.line.me")
    assert (str(proxy), credentials) == ("http://proxy.example.jp:3128", aiohttp.BasicAuth("bot", "secret"))
    assert environment_proxy("http://127.0.0.1:9999") == (URL("http://plain.example.jp:8080"), None)
    monkeypatch.setenv("NO_PROXY", "api.line.me")
    assert environment_proxy("https://api.line.me") == (None, None)
    # As aiohttp's own look-up: an https:// proxy is not supported, and the host is reached directly.
    monkeypatch.setenv("HTTP_PROXY", "https://tls-proxy.example.jp:3128")
    assert environment_proxy("http://127.0.0.1:9999") == (None, None)


async def refusing_proxy(seen: list[str]) -> tuple[asyncio.Server, int]:
    """A proxy that records each request's head and answers 407."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append((await reader.readuntil(b"\r\n\r\n")).decode())
        writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_a_proxys_credentials_kept_in_netrc_are_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    server, port = await refusing_proxy(seen)
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login proxyuser password proxypass\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    try:
        async with LineApi(settings_for(tmp_path, "http://api.line.invalid").line) as api:
            with pytest.raises(ApiException):  # the proxy's 407, as the answer to a plain-http request
                await api.push("U_HANAKO", TEXT, "00000000-0000-4000-8000-000000000001")
            with pytest.raises(ProfileUnavailable):  # the SDK's own calls too: a 407 says nothing of the name
                await api.display_name("U_HANAKO")
    finally:
        server.close()
    expected = "proxy-authorization: " + aiohttp.BasicAuth("proxyuser", "proxypass").encode().lower()
    assert len(seen) == 2
    for head in seen:
        assert expected in head.lower()


async def test_a_proxy_refusal_does_not_show_the_proxys_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    server, port = await refusing_proxy(seen)
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", f"http://bot:Sup3rSecret@127.0.0.1:{port}")
    try:
        async with LineApi(settings_for(tmp_path, "https://api.line.invalid").line) as api:
            with pytest.raises(aiohttp.ClientError) as caught:
                await api.quota()
    finally:
        server.close()
    assert seen, "the request did not go to the proxy"
    assert "Sup3rSecret" not in platform_error("the quota request", caught.value, "https://api.line.invalid")


@pytest.mark.parametrize("value", ["http://[::1", "socks5://bot:Sup3rSecret@proxy:1080", "::bad", "http://"])
async def test_a_proxy_setting_that_is_no_http_proxy_url_is_refused_at_start_without_repeating_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    for name in ("NO_PROXY", "no_proxy", "http_proxy", "https_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", value)
    with pytest.raises(ConfigError, match="HTTPS_PROXY is not") as refused:
        async with LineApi(settings_for(tmp_path, "https://api.line.invalid").line):
            pass
    assert str(refused.value) in {  # never the value itself: it may hold a password
        "HTTPS_PROXY is not a URL; write it as http://host:port",
        "HTTPS_PROXY is not an http:// proxy URL; write it as http://host:port",
    }
