"""Text from outside (LINE, Slack, their APIs) made storable before anything keeps it.

JSON may carry a lone surrogate (`"\\ud83d"`: half of an emoji, as a service that cuts text by
UTF-16 units produces), which `json.loads` turns into a `str` that cannot be encoded as UTF-8:
SQLite refuses it, and so would every later step. Each is replaced by U+FFFD, the rest of the text
is kept as sent.
"""

from __future__ import annotations

import re
from typing import Any

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def storable(text: str) -> str:
    """The text with lone surrogates replaced by U+FFFD, so SQLite can store it as UTF-8."""
    return _LONE_SURROGATE.sub("\ufffd", text)


def make_storable(value: Any) -> None:
    """Every string value inside a parsed JSON object or list made `storable`, in place (keys are
    left alone: they are the platform's field names and our own ids, never kept as text)."""
    stack = [value]
    while stack:
        container = stack.pop()
        if not isinstance(container, dict | list):
            continue
        entries = list(container.items() if isinstance(container, dict) else enumerate(container))
        for key, item in entries:
            if isinstance(item, str):
                if _LONE_SURROGATE.search(item):
                    container[key] = storable(item)
            else:
                stack.append(item)
