"""`madoguchi line quota` and `madoguchi line richmenu` against the fake LINE platform."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.cli import main
from bot.line import richmenu
from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.line_webhook import text_event
from tests.harness import post_events, settings_for, wait_for, write_config


async def run(config: Path, *args: str) -> int:
    """The CLI as an operator runs it. It starts its own event loop, so it runs in a thread while
    the fake platform keeps serving on this test's loop."""
    return await asyncio.to_thread(main, [*args, "--config", str(config)])


async def test_quota_shows_lines_figures_and_our_pushes(
    tmp_path: Path, line: FakeLine, capsys: pytest.CaptureFixture[str]
) -> None:
    line.quota = 200
    async with Runtime(settings_for(tmp_path, line.base_url)) as bot:
        await post_events(bot.base_url, [text_event("U_HANAKO", "こんにちは", reply_token="stale")])
        await wait_for(lambda: len(line.sent_messages()) == 2)

        async def recorded() -> bool:
            return await bot.db.read.outbox.count("sent") == 1

        await wait_for(recorded)
    code = await run(tmp_path / "config.toml", "line", "quota")
    out = capsys.readouterr().out
    assert code == 0
    assert "LINE monthly message quota: 200" in out
    assert "LINE consumption this month: 2" in out
    assert "Remaining: 198" in out
    assert "1 push request(s)" in out


async def test_quota_reports_an_unreachable_platform(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9")  # nothing listens on the discard port
    code = await run(config, "line", "quota")
    err = capsys.readouterr().err
    assert code == 1
    assert "could not reach LINE at http://127.0.0.1:9 for the quota request" in err
    assert "refused" not in err


async def test_quota_reports_a_refusal_with_the_host_and_status(
    tmp_path: Path, line: FakeLine, capsys: pytest.CaptureFixture[str]
) -> None:
    line.access_token = "another-token"  # ours is now wrong: LINE answers 401
    code = await run(write_config(tmp_path, line.base_url), "line", "quota")
    err = capsys.readouterr().err
    assert code == 1
    assert f"LINE refused the quota request: HTTP 401 from {line.base_url}: Authentication failed" in err
    assert "could not reach" not in err


async def test_richmenu_reports_an_unreachable_platform_as_such(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await run(write_config(tmp_path, "http://127.0.0.1:9"), "line", "richmenu")
    err = capsys.readouterr().err
    assert code == 1 and "could not reach LINE at http://127.0.0.1:9 for the rich menu" in err


async def test_richmenu_is_installed_as_default_with_its_image(tmp_path: Path, line: FakeLine) -> None:
    config = write_config(tmp_path, line.base_url)
    assert await run(config, "line", "richmenu") == 0
    assert await run(config, "line", "richmenu") == 0  # again: replaces, no pile-up
    assert len(line.rich_menus) == 1
    [menu] = line.rich_menus.values()
    assert line.default_rich_menu == menu.rich_menu_id
    areas = menu.body["areas"]
    # Only working tiles (tests/line/test_richmenu.py has the rest); no phone configured here.
    assert [a["action"]["data"] for a in areas] == [
        "consult",
        "events",
        "registrations",
        "status",
        "contact",
        "help",
    ]
    assert [a["action"]["label"] for a in areas] == [
        "相談する",
        "イベント",
        "申込状況",
        "相談状況",
        "お問い合わせ",
        "ヘルプ",
    ]
    uploads = line.find_requests(path=f"/v2/bot/richmenu/{menu.rich_menu_id}/content")
    assert uploads and uploads[-1].body == richmenu.image()
    assert uploads[-1].headers["content-type"] == "image/png"
