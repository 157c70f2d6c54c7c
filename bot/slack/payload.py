"""Reading what we ourselves put into Slack payloads, which come back as hostile input: a modal's
private_metadata (and, through `row_id`, the row ids in button values)."""

from __future__ import annotations

import json
from typing import Any

from flows.validators import row_id as row_id


def view_metadata(view: dict[str, Any]) -> dict[str, Any]:
    """A modal's private_metadata as we wrote it (a JSON object); anything else is empty."""
    try:
        metadata = json.loads(str(view.get("private_metadata") or "{}"))
    except ValueError:
        return {}
    return metadata if isinstance(metadata, dict) else {}
