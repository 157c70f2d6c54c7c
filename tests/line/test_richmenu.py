"""The rich menu advertises only what works: its tiles, their actions (お問い合わせ calls the center),
the image drawn from the same tiles, and what each postback tile answers."""

from __future__ import annotations

import re
import struct
from pathlib import Path

from bot.line import richmenu
from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.line_webhook import postback_event
from flows.desk import MENU_ITEMS
from tests.harness import ROOT, post_events, settings_for, wait_for
from tests.line.test_line_commands import run

CENTER = '\n[center]\nphone = "045-123-4567"\naddress = "横浜市中区本町6-50-10"\n'


def test_only_working_tiles_and_a_tel_link() -> None:
    menu = richmenu.definition("045-123-4567").to_dict()
    labels = [a["action"]["label"] for a in menu["areas"]]
    assert labels == ["相談する", "イベント", "申込状況", "相談状況", "お問い合わせ", "ヘルプ"]
    contact = menu["areas"][4]["action"]
    assert contact == {"type": "uri", "label": "お問い合わせ", "uri": "tel:0451234567"}
    # The tiles cover the menu three to a row, two rows, without gaps.
    bounds = [a["bounds"] for a in menu["areas"]]
    width = richmenu.WIDTH // 3
    assert [(b["x"], b["y"]) for b in bounds] == [(x * width, y * 843) for y in range(2) for x in range(3)]
    assert all(b["width"] == width and b["height"] * 2 == richmenu.HEIGHT for b in bounds)


def test_without_a_phone_the_contact_tile_shows_the_details() -> None:
    action = richmenu.definition("").to_dict()["areas"][4]["action"]
    assert action["type"] == "postback" and action["data"] == "contact"


def test_every_postback_tile_is_a_text_menu_choice() -> None:
    values = {value for value, _ in MENU_ITEMS}
    assert {t.value for t in richmenu.TILES} <= values


def test_the_image_is_drawn_from_the_same_tiles() -> None:
    script = (ROOT / "bot" / "assets" / "make_richmenu.sh").read_text(encoding="utf-8")
    drawn = re.findall(r"^tile '(#[0-9a-f]{6})' '([^']+)' '([^']+)'", script, re.MULTILINE)
    assert drawn == [(t.colour, t.label, t.caption) for t in richmenu.TILES]
    png = richmenu.image()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (richmenu.WIDTH, richmenu.HEIGHT)


async def test_installed_with_the_configured_phone(tmp_path: Path, line: FakeLine) -> None:
    settings = settings_for(tmp_path, line.base_url, CENTER)
    assert await run(settings.source, "line", "richmenu") == 0
    [menu] = line.rich_menus.values()
    assert menu.body["areas"][4]["action"]["uri"] == "tel:0451234567"


async def test_the_status_and_contact_tiles_answer(tmp_path: Path, line: FakeLine) -> None:
    settings = settings_for(tmp_path, line.base_url, CENTER)
    async with Runtime(settings) as bot:
        for data, expected in (("status", "ご相談はありません"), ("contact", "電話：045-123-4567")):
            token = line.issue_reply_token("U_TILE")
            assert (await post_events(bot.base_url, [postback_event("U_TILE", data, reply_token=token)]))[
                0
            ] == 200
            await wait_for(
                lambda e=expected: any(e in m.message.get("text", "") for m in line.sent_messages("U_TILE"))
            )
