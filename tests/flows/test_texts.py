"""Texts.get finds a text by its dotted key in a table made at load: the same answers and the same
errors as walking the wording's tables on every call (what it did before)."""

from __future__ import annotations

from typing import Any

import pytest

from flows.texts import Texts


def walked(texts: Texts, data: dict[str, Any], key: str, **values: Any) -> str:
    """The walk get did before, as the reference."""
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(f"{texts.source}: no text {key!r}")
        node = node[part]
    if not isinstance(node, str):
        raise KeyError(f"{texts.source}: {key!r} is not a text")
    return node.format(**values) if values else node


def outcome(get: Any, key: str) -> tuple[str, str]:
    try:
        return ("text", get(key))
    except KeyError as exc:
        return ("KeyError", str(exc))


def every_key(table: dict[str, Any], prefix: str = "") -> list[str]:
    keys: list[str] = []
    for name, node in table.items():
        keys.append(prefix + name)
        if isinstance(node, dict):
            keys += every_key(node, f"{prefix}{name}.")
    return keys


def test_every_key_of_the_wording_file_and_its_near_misses() -> None:
    texts = Texts.load()
    data = texts._data
    keys = every_key(data)
    assert len(keys) > 200
    near = [f"{k}.x" for k in keys] + [k + "x" for k in keys] + [k.rsplit(".", 1)[0] for k in keys]
    for key in [*keys, *near, "", ".", "menu..text", "menu.text."]:
        assert outcome(texts.get, key) == outcome(lambda k: walked(texts, data, k), key), key


def test_odd_tables_dotted_names_lists_and_empty_names() -> None:
    data: dict[str, Any] = {
        "a.b": "dotted name",
        "a": {"b": {"c.d": "inner dotted"}, "list": ["x", "y"], "n": 1, "": {"z": "under an empty name"}},
        "t": {"f": "{name}様"},
    }
    texts = Texts(data, "odd.toml")
    for key in [
        "a.b",
        "a.b.c.d",
        "a.b.c",
        "a.list",
        "a.list.0",
        "a.n",
        "a..z",
        "a.",
        "t.f",
        "t",
        "a.b.c.d.e",
    ]:
        assert outcome(texts.get, key) == outcome(lambda k: walked(texts, data, k), key), key
    assert texts.get("a..z") == "under an empty name"
    assert texts.get("t.f", name="花子") == "花子様"
    with pytest.raises(KeyError, match="name"):
        texts.get("t.f", nome="花子")  # a placeholder not given: format's KeyError, as before
