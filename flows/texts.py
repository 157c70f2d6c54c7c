"""Citizen-facing wording, loaded from editable TOML files (flows/texts/ja.toml)."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any


class Texts:
    """Read-only access by dotted key: `texts.get("menu.consult")`; a missing key fails loudly."""

    def __init__(self, data: dict[str, Any], source: str) -> None:
        self._data = data
        self.source = source

    @classmethod
    def load(cls, path: Path | None = None) -> Texts:
        if path is None:
            source = resources.files("flows").joinpath("texts", "ja.toml")
            return cls(tomllib.loads(source.read_text(encoding="utf-8")), "flows/texts/ja.toml")
        return cls(tomllib.loads(path.read_text(encoding="utf-8")), str(path))

    def get(self, key: str, **values: Any) -> str:
        node: Any = self._data
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                raise KeyError(f"{self.source}: no text {key!r}")
            node = node[part]
        if not isinstance(node, str):
            raise KeyError(f"{self.source}: {key!r} is not a text")
        return node.format(**values) if values else node
