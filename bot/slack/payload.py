"""Reading what we ourselves put into Slack payloads, which come back as hostile input: a modal's
private_metadata and the row ids in button values."""

from __future__ import annotations

import json
from typing import Any


def view_metadata(view: dict[str, Any]) -> dict[str, Any]:
    """A modal's private_metadata as we wrote it (a JSON object); anything else is empty."""
    try:
        metadata = json.loads(str(view.get("private_metadata") or "{}"))
    except ValueError:
        return {}
    return metadata if isinstance(metadata, dict) else {}


def row_id(value: object) -> int:
    """A row id (a case's, a draft's, an event's) from a button's value or a modal's metadata; anything
    that is not one names no row (0)."""
    text = str(value or "")
    return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else 0
