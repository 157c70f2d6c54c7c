"""Shared fixtures. Tests never reach the network: anything but loopback fails at once."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from storage import Database
from tests.harness import LINE_TOKEN, settings_for

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_CONFIG = ROOT / "config.example.toml"
TEST_ENV = {
    "LINE_CHANNEL_SECRET": "test-line-channel-secret",
    "LINE_CHANNEL_ACCESS_TOKEN": "test-line-access-token",
    "SLACK_BOT_TOKEN": "xoxb-test",
    "SLACK_APP_TOKEN": "xapp-test",
    "SLACK_SIGNING_SECRET": "test-signing-secret",
}
NOW = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail any test that tries to connect anywhere but this machine."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if (
            isinstance(host, str)
            and not (host.startswith("127.") or host in ("::1", "localhost"))
            and (self.family in (socket.AF_INET, socket.AF_INET6))
        ):
            raise AssertionError(f"test tried to reach the network: {address!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    yield


@pytest.fixture
def test_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key, value in TEST_ENV.items():
        monkeypatch.setenv(key, value)
    return dict(TEST_ENV)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "test.sqlite3")
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
async def line() -> AsyncIterator[FakeLine]:
    """The fake LINE platform, with one citizen's profile."""
    async with FakeLine(access_token=LINE_TOKEN) as fake:
        fake.set_profile("U_HANAKO", "山田 花子")
        yield fake


@pytest.fixture
async def bot(tmp_path: Path, line: FakeLine) -> AsyncIterator[Runtime]:
    """The whole bot in this process, serving on a free loopback port and talking to the fake LINE."""
    async with Runtime(settings_for(tmp_path, line.base_url)) as runtime:
        yield runtime
