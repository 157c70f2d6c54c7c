"""`madoguchi doctor` against the fake LINE and Slack: each problem reported with its fix, exit 2;
all green exits 0."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.cli import main
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.fake_slack import FakeSlack
from storage import Database
from tests.harness import LINE_SECRET, LINE_TOKEN

BOT = "U_BOT"


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(bot_user_id=BOT) as fake:
        channels = {"C_CASES": "madoguchi", "C_OPS": "ops", "C_TSURUMI": "tsurumi-center"}
        fake.set_channels(channels, private=["C_CASES"])
        for channel in ("C_CASES", "C_OPS", "C_TSURUMI"):
            fake.set_members(channel, [BOT, "U_STAFF"])
        yield fake


def write(tmp_path: Path, line: FakeLine, slack: FakeSlack, wards: str = "", app_token: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[storage]
path = "madoguchi.sqlite3"
[line]
channel_secret = "{LINE_SECRET}"
channel_access_token = "{LINE_TOKEN}"
api_base_url = "{line.base_url}"
data_api_base_url = "{line.base_url}"
[slack]
mode = "socket"
bot_token = "{slack.bot_token}"
app_token = "{app_token or slack.app_token}"
api_base_url = "{slack.api_url}"
default_channel = "C_CASES"
ops_channel = "C_OPS"
[[wards]]
ward = "鶴見区"
name = "鶴見区民活動支援センター"
slack_channel = "C_TSURUMI"
{wards}
""",
        encoding="utf-8",
    )
    return path


async def migrated(config: Path) -> Path:
    db = await Database.open(config.parent / "madoguchi.sqlite3")
    await db.close()
    return config


async def doctor(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    # The CLI runs its own loop: in a thread, while the fakes keep serving on this one.
    code = await asyncio.to_thread(main, ["doctor", "--config", str(config)])
    return code, capsys.readouterr().out


def row(out: str, name: str) -> str:
    """The line of a check and, when it failed, its fix line."""
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if line[5:].startswith(name):
            fix = lines[i + 1] if i + 1 < len(lines) and "-> " in lines[i + 1] else ""
            return f"{line}\n{fix}"
    raise AssertionError(f"no row {name!r} in:\n{out}")


async def test_all_green_exits_0(
    tmp_path: Path, line: FakeLine, slack: FakeSlack, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = await doctor(await migrated(write(tmp_path, line, slack)), capsys)
    assert code == 0, out
    assert "FIX" not in out
    assert "account 横浜市市民協働推進センター (@216ruybk)" in row(out, "LINE token")
    assert f"({BOT})" in row(out, "Slack bot token")
    assert "opens a connection" in row(out, "Slack Socket Mode")
    assert "#tsurumi-center (ward 鶴見区): the bot is a member" in row(out, "channel C_TSURUMI")
    assert "integrity_check ok" in row(out, "database integrity")
    assert "up to date" in row(out, "database migrations")
    assert out.rstrip().endswith("fine")
    # It asked LINE for the bot info and opened (not used) a Socket Mode connection URL.
    assert line.find_requests("/v2/bot/info")
    assert slack.find_calls("apps.connections.open") and slack.socket_connections == 0
    # Never a secret on screen.
    assert LINE_TOKEN not in out and slack.bot_token not in out and slack.app_token not in out


async def test_a_bad_line_token_is_reported_with_its_fix(
    tmp_path: Path, line: FakeLine, slack: FakeSlack, capsys: pytest.CaptureFixture[str]
) -> None:
    line.access_token = "the-token-was-reissued"
    code, out = await doctor(await migrated(write(tmp_path, line, slack)), capsys)
    assert code == 2
    found = row(out, "LINE token")
    assert found.startswith("FIX")
    assert f"LINE refused the bot info: HTTP 401 from {line.base_url}" in found
    assert "-> issue a channel access token" in found and "LINE_CHANNEL_ACCESS_TOKEN" in found
    assert "1 to fix" in out


async def test_bad_slack_tokens_are_reported_with_their_fixes(
    tmp_path: Path, line: FakeLine, slack: FakeSlack, capsys: pytest.CaptureFixture[str]
) -> None:
    config = await migrated(write(tmp_path, line, slack, app_token="xapp-revoked"))
    slack.bot_token = "xoxb-rotated"
    code, out = await doctor(config, capsys)
    assert code == 2
    assert "auth.test answered invalid_auth" in row(out, "Slack bot token")
    assert "-> copy the Bot User OAuth Token" in row(out, "Slack bot token")
    assert "apps.connections.open answered invalid_auth" in row(out, "Slack Socket Mode")
    assert "connections:write" in row(out, "Slack Socket Mode")
    assert "fix the Slack bot token first" in row(out, "Slack channels")


async def test_a_channel_without_the_bot_is_reported_with_the_invite(
    tmp_path: Path, line: FakeLine, slack: FakeSlack, capsys: pytest.CaptureFixture[str]
) -> None:
    slack.set_members("C_TSURUMI", ["U_STAFF"])
    code, out = await doctor(await migrated(write(tmp_path, line, slack)), capsys)
    assert code == 2
    found = row(out, "channel C_TSURUMI")
    assert found.startswith("FIX")
    assert "the bot is not a member of #tsurumi-center (ward 鶴見区)" in found
    assert "-> in the channel, type: /invite @madoguchi" in found
    assert row(out, "channel C_CASES").startswith("ok")
    assert "1 to fix" in out


async def test_a_public_channel_that_shows_personal_data_is_reported(
    tmp_path: Path, line: FakeLine, slack: FakeSlack, capsys: pytest.CaptureFixture[str]
) -> None:
    """Case cards and the day-before list name people: their channels must be private. The ops and
    ward channels carry nothing personal and may be public (a Slack Connect channel, say)."""
    slack.set_channels({"C_CASES": "madoguchi", "C_OPS": "ops", "C_TSURUMI": "tsurumi", "C_EVENTS": "events"})
    for channel in ("C_CASES", "C_OPS", "C_TSURUMI", "C_EVENTS"):
        slack.set_members(channel, [BOT, "U_STAFF"])
    config = write(tmp_path, line, slack)
    config.write_text(
        config.read_text().replace(
            'ops_channel = "C_OPS"', 'ops_channel = "C_OPS"\nevents_channel = "C_EVENTS"'
        )
    )
    code, out = await doctor(await migrated(config), capsys)
    assert code == 2
    for channel, key in (("C_CASES", "[slack] default_channel"), ("C_EVENTS", "[slack] events_channel")):
        found = row(out, f"channel {channel}")
        assert (
            found.startswith("FIX")
            and f"({key}) is public" in found
            and "-> make it a private channel" in found
        )
    assert row(out, "channel C_OPS").startswith("ok") and row(out, "channel C_TSURUMI").startswith("ok")


async def test_an_unknown_channel_is_reported(
    tmp_path: Path, line: FakeLine, slack: FakeSlack, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path, line, slack)
    config.write_text(config.read_text().replace('ops_channel = "C_OPS"', 'ops_channel = "C_TYPO"'))
    code, out = await doctor(await migrated(config), capsys)
    assert code == 2
    found = row(out, "channel C_TYPO")
    assert "[slack] ops_channel: conversations.info answered channel_not_found" in found
    assert "-> check the id" in found


async def test_a_ward_without_a_channel_is_reported_with_its_fix(
    tmp_path: Path, line: FakeLine, slack: FakeSlack, capsys: pytest.CaptureFixture[str]
) -> None:
    wards = '[[wards]]\nward = "神奈川区"\nname = "かながわ区民活動支援センター"\n'
    wards += '[[wards]]\nward = "西区"\nname = "にしく市民活動支援センター"\nline_group_id = "C0123456789abcdef0123456789abcdef"\n'
    code, out = await doctor(await migrated(write(tmp_path, line, slack, wards)), capsys)
    assert code == 2
    found = row(out, "ward centers")
    assert found.startswith("FIX")
    assert "1 of 3 have no channel: 神奈川区" in found
    assert "-> give each [[wards]] entry a slack_channel" in found
    assert "1 to fix" in out


async def test_no_database_and_an_unmigrated_one(
    tmp_path: Path, line: FakeLine, slack: FakeSlack, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path, line, slack)
    code, out = await doctor(config, capsys)
    assert code == 2
    assert "-> create it: madoguchi migrate --config" in row(out, "database")
    db = await Database.open(tmp_path / "madoguchi.sqlite3", migrate=False)
    await db.close()
    code, out = await doctor(config, capsys)
    assert code == 2
    assert "not applied yet: [1, 2," in row(out, "database migrations")
    assert "-> run: madoguchi migrate --config" in row(out, "database migrations")


async def test_a_bad_configuration_is_one_row_with_its_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[line]\nchannel_secret = '${NOT_SET_HERE}'\n", encoding="utf-8")
    code, out = await doctor(config, capsys)
    assert code == 2
    assert "NOT_SET_HERE is not set" in row(out, "configuration")
    assert "-> edit the file, then: madoguchi check-config" in row(out, "configuration")


async def test_a_locked_database_is_reported_as_locked_not_as_permissions(
    tmp_path: Path, line: FakeLine, slack: FakeSlack, capsys: pytest.CaptureFixture[str]
) -> None:
    config = await migrated(write(tmp_path, line, slack))
    config.write_text(
        config.read_text(encoding="utf-8").replace("[storage]\n", "[storage]\nbusy_timeout_ms = 200\n"),
        encoding="utf-8",
    )
    # A process holding the write lock of a database not in WAL mode (as a restored file is until the
    # bot opens it): nobody else can even open it.
    holder = sqlite3.connect(tmp_path / "madoguchi.sqlite3", isolation_level=None)
    holder.execute("PRAGMA journal_mode = DELETE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        code, out = await doctor(config, capsys)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert code == 2
    found = row(out, "database")
    assert "database is locked" in found and "another process holds the database's lock" in found, found
    assert "permissions" not in found, found
