"""Citizen commands are declared once (flows/commands.py): a new one is typed, tapped, listed in the
menu and answered in the middle of a consultation from its declaration alone."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from flows import desk
from flows.commands import COMMANDS, Call, Command, Commands
from flows.messages import Choice, Outgoing, Text
from flows.texts import Texts
from tests.flows.test_desk import TEXTS, Citizen, at_name
from tests.flows.test_desk import citizen as citizen


async def _say_hours(call: Call) -> list[Outgoing]:
    return [Text("9:00から21:30まで開いています。")]


@pytest.fixture
def hours(monkeypatch: pytest.MonkeyPatch) -> Command:
    """The registry with one more command, declared the way docs/intake.md shows (and removed after)."""
    monkeypatch.setattr(COMMANDS, "_commands", list(COMMANDS._commands))
    monkeypatch.setattr(TEXTS, "get", _with_hours_label(TEXTS.get))
    return COMMANDS.add(
        Command("hours", frozenset({"開館時間", "hours"}), _say_hours, menu="menu.hours", menu_order=55)
    )


def _with_hours_label(get: Callable[..., Any]) -> Callable[..., Any]:
    def patched(key: str, **values: object) -> Any:
        return "開館時間" if key == "menu.hours" else get(key, **values)

    return patched


@pytest.mark.usefixtures("hours")
async def test_a_declared_command_is_typed_tapped_and_in_the_menu(citizen: Citizen) -> None:
    typed = await citizen.say("開館時間")
    assert typed.messages[0] == Text("9:00から21:30まで開いています。")
    menu = typed.messages[-1]
    assert isinstance(menu, Text)
    labels = [c.label for c in menu.choices]
    assert labels.index("開館時間") == labels.index(TEXTS.get("menu.contact")) + 1
    assert (await citizen.tap("hours")).messages[0] == Text("9:00から21:30まで開いています。")


@pytest.mark.usefixtures("hours")
async def test_a_declared_command_is_a_detour_in_the_middle_of_a_consultation(citizen: Citizen) -> None:
    await at_name(citizen)
    reply = await citizen.say("HOURS")
    assert reply.messages[0] == Text("9:00から21:30まで開いています。")
    assert reply.messages[1] == Text(TEXTS.get("flow.help_resume"))
    conversation = await citizen.conversation()
    assert conversation is not None and conversation.step == "name"


def test_the_menu_is_the_commands_with_a_label_in_order() -> None:
    assert desk.menu(TEXTS).choices == COMMANDS.menu_choices(TEXTS)
    assert desk.MENU_ITEMS[0][0] == "consult"
    assert all(isinstance(c, Choice) for c in COMMANDS.menu_choices(TEXTS))


def test_a_name_or_word_declared_twice_fails_at_once() -> None:
    registry = Commands()
    registry.add(Command("a", frozenset({"x"}), _say_hours))
    with pytest.raises(ValueError, match="twice"):
        registry.add(Command("a", frozenset({"y"}), _say_hours))
    with pytest.raises(ValueError, match="share words"):
        registry.add(Command("b", frozenset({"x"}), _say_hours))


def test_arguments_and_patterns_name_their_command() -> None:
    registry = Commands()
    event = registry.add(Command("event", frozenset(), _say_hours, takes_argument=True))
    delete = registry.add(Command("delete", frozenset(), _say_hours, pattern=re.compile("削除(して)?")))
    assert registry.find("event:register:12") is event
    assert registry.find("eventful") is None
    assert registry.find("削除して。") is delete
    assert registry.find("写真を削除して") is None


def test_the_menu_is_made_once_per_wording_and_follows_the_registry() -> None:
    registry = Commands()
    ja = Texts({"menu": {"a": "エー", "b": "ビー"}}, "ja.toml")
    other = Texts({"menu": {"a": "A", "b": "B"}}, "other.toml")
    registry.add(Command("a", frozenset({"a"}), _say_hours, menu="menu.a", menu_order=2))
    first = registry.menu_choices(ja)
    assert first == (Choice("エー", "a"),)
    assert registry.menu_choices(ja) is first
    assert registry.menu_choices(other) == (Choice("A", "a"),)
    registry.add(Command("b", frozenset({"b"}), _say_hours, menu="menu.b", menu_order=1))
    assert registry.menu_choices(ja) == (Choice("ビー", "b"), Choice("エー", "a"))
    assert registry.menu_choices(other) == (Choice("B", "b"), Choice("A", "a"))
