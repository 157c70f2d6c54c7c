"""The rich menu (相談する / イベント / 申込状況 / ヘルプ): its layout, image, and installation as the default.

Each area sends a postback whose data is the same value the text menu's choices carry, so the flows
handle a tap on the rich menu exactly like a tap on a quick reply.
"""

from __future__ import annotations

import logging
from importlib import resources

from linebot.v3.messaging import RichMenuRequest

from bot.line.api import LineApi
from bot.logs import fields

log = logging.getLogger("madoguchi.line.richmenu")

NAME = "madoguchi-main"
WIDTH, HEIGHT = 2500, 843
AREAS = [("consult", "相談する"), ("events", "イベント"), ("registrations", "申込状況"), ("help", "ヘルプ")]


def definition() -> RichMenuRequest:
    tile = WIDTH // len(AREAS)
    return RichMenuRequest.from_dict(
        {
            "size": {"width": WIDTH, "height": HEIGHT},
            "selected": True,
            "name": NAME,
            "chatBarText": "メニュー",
            "areas": [
                {
                    "bounds": {"x": index * tile, "y": 0, "width": tile, "height": HEIGHT},
                    "action": {"type": "postback", "label": label, "data": value, "displayText": label},
                }
                for index, (value, label) in enumerate(AREAS)
            ],
        }
    )


def image() -> bytes:
    return resources.files("bot").joinpath("assets", "richmenu.png").read_bytes()


async def install(api: LineApi) -> str:
    """Create the menu, upload its image, make it everyone's default, and remove our older copies."""
    created = await api.messaging.create_rich_menu(definition())
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
