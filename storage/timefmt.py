"""UTC timestamps as fixed-width text, so that SQL text comparison is time comparison."""

from __future__ import annotations

from datetime import UTC, datetime

_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def to_db(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass an aware one (the clock gives UTC)")
    return moment.astimezone(UTC).strftime(_FORMAT)


def from_db(text: str) -> datetime:
    # fromisoformat reads our fixed form (with its Z) and is far cheaper than strptime.
    return datetime.fromisoformat(text)


def opt_to_db(moment: datetime | None) -> str | None:
    return None if moment is None else to_db(moment)


def opt_from_db(text: str | None) -> datetime | None:
    return None if text is None else from_db(text)
