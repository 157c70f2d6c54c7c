"""UTC timestamps as fixed-width text, so that SQL text comparison is time comparison."""

from __future__ import annotations

from datetime import UTC, datetime

_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
# _FORMAT with %-formatting, less than half the cost of strftime. The same text for a year of four digits;
# strftime writes years before 1000 differently on different C libraries, so those keep it.
_FAST_FORMAT = "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ"


def to_db(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass an aware one (the clock gives UTC)")
    utc = moment.astimezone(UTC)
    if utc.year < 1000 or type(utc) is not datetime:
        return utc.strftime(_FORMAT)
    return _FAST_FORMAT % (utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond)


def from_db(text: str) -> datetime:
    # fromisoformat reads our fixed form (with its Z) and is far cheaper than strptime.
    return datetime.fromisoformat(text)


def opt_to_db(moment: datetime | None) -> str | None:
    return None if moment is None else to_db(moment)


def opt_from_db(text: str | None) -> datetime | None:
    return None if text is None else from_db(text)
