"""`madoguchi serve` as a real process: answers /healthz over HTTP and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp

from tests.conftest import ROOT, TEST_ENV
from tests.harness import start_serve as start

CONFIG = """
[server]
host = "127.0.0.1"
port = 0
[storage]
path = "db/madoguchi.sqlite3"
[line]
channel_secret = "${LINE_CHANNEL_SECRET}"
channel_access_token = "${LINE_CHANNEL_ACCESS_TOKEN}"
[slack]
bot_token = "${SLACK_BOT_TOKEN}"
app_token = "${SLACK_APP_TOKEN}"
default_channel = "C1"
[[wards]]
ward = "鶴見区"
name = "鶴見区民活動支援センター"
"""


async def test_healthz_over_http_then_clean_sigterm(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(CONFIG, encoding="utf-8")
    process, address, lines = await start(config, TEST_ENV)
    try:
        async with aiohttp.ClientSession() as session, session.get(f"{address}/healthz") as response:
            assert response.status == 200
            body = await response.json()
        assert body["status"] == "ok" and body["database"] == "ok"
        assert (tmp_path / "db" / "madoguchi.sqlite3").exists()

        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=10) == 0
        assert process.stderr is not None
        lines += (await process.stderr.read()).decode().splitlines()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert any("event=server.stopped" in line for line in lines)
    # Logs are one key=value event per line and never carry secrets.
    assert all(line.startswith("ts=") for line in lines if line.strip())
    assert not any(secret in "".join(lines) for secret in TEST_ENV.values())
    # Stopped means stopped: the port no longer answers.
    async with aiohttp.ClientSession() as session:
        try:
            async with session.get(f"{address}/healthz", timeout=aiohttp.ClientTimeout(total=2)):
                raise AssertionError("server still answering after SIGTERM")
        except aiohttp.ClientConnectionError:
            pass


async def test_sigint_also_stops_cleanly(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(CONFIG, encoding="utf-8")
    process, _, _ = await start(config, TEST_ENV)
    process.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(process.wait(), timeout=10) == 0


async def test_serve_with_bad_config_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.replace("[server]", "[server]\nhots = 1"), encoding="utf-8")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "serve", "--config", str(config),
        cwd=ROOT, env={**os.environ, **TEST_ENV}, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(process.communicate(), timeout=20)
    assert process.returncode == 2
    assert "server.hots: unknown key" in err.decode()
