"""Dates as citizens and staff read them, with the weekday: 12月1日(月), 12月1日(月) 9:00.

The patterns and the weekday names are wording, so they live in flows/texts/ja.toml ([dates]).
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from flows.texts import Texts


def _values(texts: Texts, moment: datetime, tz: tzinfo) -> dict[str, object]:
    local = moment.astimezone(tz)
    weekdays = texts.get("dates.weekdays")
    return {
        "year": local.year,
        "month": local.month,
        "day": local.day,
        "weekday": weekdays[local.weekday()],
        "hour": local.hour,
        "minute": local.minute,
    }


def day_text(texts: Texts, moment: datetime, tz: tzinfo) -> str:
    """12月1日(月)"""
    return texts.get("dates.day", **_values(texts, moment, tz))


def moment_text(texts: Texts, moment: datetime, tz: tzinfo) -> str:
    """12月1日(月) 9:00"""
    return texts.get("dates.moment", **_values(texts, moment, tz))
