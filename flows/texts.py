"""Citizen-facing wording, loaded from editable TOML files (flows/texts/ja.toml)."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn


class Texts:
    """Read-only access by dotted key: `texts.get("menu.consult")`; a missing key fails loudly."""

    def __init__(self, data: dict[str, Any], source: str) -> None:
        self._data = data
        self.source = source
        # Every text by its dotted key, found once here instead of walking the tables on each get.
        self._by_key = dict(_texts_by_key(data, ""))

    @classmethod
    def load(cls, path: Path | None = None) -> Texts:
        if path is None:
            source = resources.files("flows").joinpath("texts", "ja.toml")
            return cls(tomllib.loads(source.read_text(encoding="utf-8")), "flows/texts/ja.toml")
        return cls(tomllib.loads(path.read_text(encoding="utf-8")), str(path))

    def get(self, key: str, **values: Any) -> str:
        text = self._by_key.get(key)
        if text is None:
            self._refuse(key)
        return text.format(**values) if values else text

    def _refuse(self, key: str) -> NoReturn:
        node: Any = self._data
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                raise KeyError(f"{self.source}: no text {key!r}")
            node = node[part]
        raise KeyError(f"{self.source}: {key!r} is not a text")


def _texts_by_key(table: dict[str, Any], prefix: str) -> list[tuple[str, str]]:
    """(dotted key, text) of every text under a table. A TOML key with a dot in it is left out:
    `get` splits its key at dots, so it never reached one."""
    found: list[tuple[str, str]] = []
    for name, node in table.items():
        if "." in name:
            continue
        if isinstance(node, str):
            found.append((prefix + name, node))
        elif isinstance(node, dict):
            found.extend(_texts_by_key(node, f"{prefix}{name}."))
    return found
