"""Citizen commands, each declared once: its words, its menu label, its handler, and what it does in
the middle of a conversation.

A command is one `Command` added to `COMMANDS` next to its handler (flows/desk.py, flows/events.py).
The front desk finds the command a tapped or typed word names and runs it; the text menu (and through
its values the rich menu, bot/line/richmenu.py) lists the commands that have a menu label, in
`menu_order`; a conversation under way asks the registry whether a word is a command. Nothing else
needs to change to add one: no word set, no branch in the desk, no menu entry by hand.

    COMMANDS.add(Command(
        "hours", frozenset({"開館時間", "hours"}), say_hours, menu="menu.hours", menu_order=70,
    ))

A handler gets a `Call` and returns either what it says (a list of messages: outside a flow the desk
adds the menu after it; inside one, the way back to the question) or a whole `Reply` when it starts a
conversation of its own (相談する) and says what comes next itself.

In the middle of a conversation (`mid_flow`):
- "detour": the command answers, then the conversation resumes where it was (ヘルプ, 相談状況, イベント).
- "resume": the command is not run; the conversation's question is asked again (相談する while the
  consultation is being written).
- "takeover": checked before any conversation, and the handler decides what becomes of it (削除
  keeps the conversation aside and gives it back on いいえ).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal
from weakref import WeakKeyDictionary

from flows.context import DeskContext, Reply
from flows.messages import Choice, Inbound, Outgoing, Text
from flows.texts import Texts
from storage.conversations import Conversation
from storage.repositories import Repositories
from storage.users import User

MidFlow = Literal["detour", "resume", "takeover"]


@dataclass(frozen=True)
class Call:
    """One run of a command: the word that named it (folded), the event, and where the citizen stands."""

    word: str
    inbound: Inbound
    user: User
    conversation: Conversation | None
    tx: Repositories
    ctx: DeskContext
    # True while a conversation is under way and will be resumed after this command's answer.
    in_flow: bool = False

    @property
    def argument(self) -> str:
        """What follows the command's prefix in a postback value (event:register:12 -> register:12)."""
        head, _, rest = self.word.partition(":")
        return rest if head and rest else ""


Handler = Callable[[Call], Awaitable[list[Outgoing] | Reply]]


@dataclass(frozen=True)
class Command:
    name: str  # the value its menu choice and rich-menu tile send (a postback)
    words: frozenset[str]  # typed forms, compared folded (NFKC, lower case, outer spaces stripped)
    run: Handler
    menu: str | None = None  # wording key of its label in the text menu; None: not in the menu
    menu_order: int = 0
    mid_flow: MidFlow = "detour"
    # Typed forms beyond the words, matched whole (削除してください, 私の個人情報を削除して).
    pattern: re.Pattern[str] | None = field(default=None, compare=False)
    # Postback values with arguments: `<name>:<argument>` (event:register:12) name this command too.
    takes_argument: bool = False

    def names(self, word: str) -> bool:
        if word == self.name or word in self.words:
            return True
        if self.takes_argument and word.startswith(self.name + ":"):
            return True
        return self.pattern is not None and self.pattern.fullmatch(word.rstrip("。.!！ ")) is not None


class Commands:
    """The registry: every citizen command, in the order declared."""

    def __init__(self) -> None:
        self._commands: list[Command] = []
        # The menu's choices for each wording, with the list and the number of commands they were
        # made from: made again when either changes (a command added, a test's registry swapped in).
        self._menus: WeakKeyDictionary[Texts, tuple[list[Command], int, tuple[Choice, ...]]] = (
            WeakKeyDictionary()
        )

    def add(self, command: Command) -> Command:
        for known in self._commands:
            if known.name == command.name:
                raise ValueError(f"command {command.name!r} is declared twice")
            shared = known.words & command.words
            if shared:
                raise ValueError(
                    f"commands {known.name!r} and {command.name!r} share words: {sorted(shared)}"
                )
        self._commands.append(command)
        return command

    def find(self, word: str) -> Command | None:
        return next((c for c in self._commands if c.names(word)), None)

    def get(self, name: str) -> Command:
        for command in self._commands:
            if command.name == name:
                return command
        raise KeyError(name)

    def __iter__(self) -> Iterator[Command]:
        return iter(self._commands)

    def menu_items(self) -> tuple[tuple[str, str], ...]:
        """The text menu, in order: (value, wording key) of each command with a menu label."""
        listed = sorted((c for c in self._commands if c.menu is not None), key=lambda c: c.menu_order)
        return tuple((c.name, c.menu) for c in listed if c.menu is not None)

    def menu_choices(self, texts: Texts) -> tuple[Choice, ...]:
        """The text menu's choices; made once per wording (Texts never change once loaded)."""
        made = self._menus.get(texts)
        if made is not None and made[0] is self._commands and made[1] == len(self._commands):
            return made[2]
        choices = tuple(Choice(texts.get(key), value) for value, key in self.menu_items())
        self._menus[texts] = (self._commands, len(self._commands), choices)
        return choices


COMMANDS = Commands()


def menu(texts: Texts) -> Text:
    """The text menu: the commands declared with a menu label, as choices."""
    return Text(texts.get("menu.text"), choices=COMMANDS.menu_choices(texts))
