"""The front desk: what the bot answers when no guided conversation is under way.

It greets new friends, shows the menu and help, and answers stickers, images, files and locations
politely. Guided flows (consultation intake, event sign-up) plug in behind the menu choices.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flows.messages import Choice, Inbound, Outgoing, Text
from flows.texts import Texts
from storage.repositories import Repositories
from storage.users import User

MENU_WORDS = frozenset({"メニュー", "めにゅー", "menu", "最初", "はじめ", "戻る"})
HELP_WORDS = frozenset({"ヘルプ", "へるぷ", "help", "使い方", "?", "？"})


@dataclass(frozen=True)
class DeskContext:
    texts: Texts
    center_name: str
    now: datetime


def menu(texts: Texts) -> Text:
    return Text(
        texts.get("menu.text"),
        choices=(
            Choice(texts.get("menu.consult"), "consult"),
            Choice(texts.get("menu.events"), "events"),
            Choice(texts.get("menu.registrations"), "registrations"),
            Choice(texts.get("menu.help"), "help"),
        ),
    )


async def respond(inbound: Inbound, user: User, tx: Repositories, ctx: DeskContext) -> list[Outgoing]:
    """The bot's answer to one inbound event from a citizen."""
    texts = ctx.texts
    if inbound.kind == "follow":
        return [Text(texts.get("greeting.text", center=ctx.center_name)), menu(texts)]
    if inbound.kind == "unfollow":
        return []
    if inbound.kind in ("sticker", "location"):
        return [Text(texts.get(f"media.{inbound.kind}"))]
    if inbound.kind == "media":
        return [Text(texts.get(f"media.{inbound.media}"))]
    word = (inbound.value if inbound.kind == "choice" else inbound.text).strip().lower()
    if word in MENU_WORDS or word == "menu":
        return [menu(texts)]
    if word in HELP_WORDS:
        return [Text(texts.get("help.text")), menu(texts)]
    if inbound.kind == "choice" and word in ("consult", "events", "registrations"):
        return [Text(texts.get("coming_soon.text")), menu(texts)]
    return [Text(texts.get("fallback.text")), menu(texts)]
