"""The rich menu (相談する / イベント / 申込状況 / 相談状況 / お問い合わせ / ヘルプ): its layout, image, and
installation as the default.

Only what works is on it. The tiles are declared once, in TILES, in the order of the image
(bot/assets/richmenu.png, drawn by bot/assets/make_richmenu.sh from the same labels), three to a row. Each
tile sends a postback whose data is the name of a command with a menu label (flows/commands.py), the
value the text menu's choice carries, so the flows handle a tap on the rich menu exactly like a tap on a
quick reply; お問い合わせ calls the center (a tel: link to [center]
phone), or shows the contact details when no phone is configured.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import resources
from typing import Any

from linebot.v3.messaging import RichMenuRequest

from bot.line.api import LineApi
from bot.logs import fields

log = logging.getLogger("madoguchi.line.richmenu")

NAME = "madoguchi-main"
COLUMNS = 3
TILE_HEIGHT = 843
WIDTH, HEIGHT = 2500, 1686


@dataclass(frozen=True)
class Tile:
    value: str  # the postback data: the name of a command in the text menu (flows/commands.py)
    label: str  # shown on the image (with `caption` under it) and sent as the citizen's message
    caption: str
    colour: str
    call: bool = False  # a tel: link to [center] phone when one is configured


# In image order: left to right, then the next row (add a tile here and in make_richmenu.sh).
TILES = (
    Tile("consult", "相談する", "ご相談の受付", "#1f6f8b"),
    Tile("events", "イベント", "セミナー・サロン", "#3a7d44"),
    Tile("registrations", "申込状況", "お申込みの確認", "#7b5ea7"),
    Tile("status", "相談状況", "ご相談の確認", "#2a9d8f"),
    Tile("contact", "お問い合わせ", "お電話はこちら", "#e9a23b", call=True),
    Tile("help", "ヘルプ", "使い方", "#6c757d"),
)


def _action(tile: Tile, phone: str) -> dict[str, Any]:
    if tile.call and phone:
        return {"type": "uri", "label": tile.label, "uri": "tel:" + phone.replace("-", "")}
    return {"type": "postback", "label": tile.label, "data": tile.value, "displayText": tile.label}


def definition(phone: str = "") -> RichMenuRequest:
    width = WIDTH // COLUMNS
    return RichMenuRequest.from_dict(
        {
            "size": {"width": WIDTH, "height": HEIGHT},
            "selected": True,
            "name": NAME,
            "chatBarText": "メニュー",
            "areas": [
                {
                    "bounds": {
                        "x": (index % COLUMNS) * width,
                        "y": (index // COLUMNS) * TILE_HEIGHT,
                        "width": width,
                        "height": TILE_HEIGHT,
                    },
                    "action": _action(tile, phone),
                }
                for index, tile in enumerate(TILES)
            ],
        }
    )


def image() -> bytes:
    return resources.files("bot").joinpath("assets", "richmenu.png").read_bytes()


async def install(api: LineApi, phone: str = "") -> str:
    """Create the menu, upload its image, make it everyone's default, and remove our older copies."""
    created = await api.messaging.create_rich_menu(definition(phone))
    menu_id = str(created.rich_menu_id)
    await api.blob.set_rich_menu_image(menu_id, image(), _headers={"Content-Type": "image/png"})
    await api.messaging.set_default_rich_menu(menu_id)
    existing = await api.messaging.get_rich_menu_list()
    for menu in existing.richmenus:
        if menu.name == NAME and menu.rich_menu_id != menu_id:
            await api.messaging.delete_rich_menu(menu.rich_menu_id)
            log.info("line.richmenu_removed", extra=fields(rich_menu_id=menu.rich_menu_id))
    log.info("line.richmenu_installed", extra=fields(rich_menu_id=menu_id))
    return menu_id
