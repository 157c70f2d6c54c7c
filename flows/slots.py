"""Time slots of consultation sessions as citizens and staff read them, and the typed answer that
names one.

A slot reads 12月5日(土) 13:40〜14:20 (with its advisor, 税理士, when the session has several), in the
center's timezone. A citizen picks one by tapping, or by typing its number in the list, its start
(14:00, １４：００, 14時, 14時半, 午後2時, or 2時 for an afternoon session), or its label; two slots
at the same time (two advisors) need the advisor too (14時 税理士) or the number.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import tzinfo

from flows import matching
from flows.dates import moment_text
from flows.messages import Choice
from flows.texts import Texts
from flows.validators import fold, normalise
from storage.slots import Slot

# 14:00, 14時, 14時40分, 14時半, 午後2時 (after NFKC, so １４：００ reads as 14:00).
_TIME = re.compile(r"(午前|午後)?\s*(\d{1,2})\s*(?::\s*(\d{2})|時\s*(?:(半)|(\d{1,2})\s*分)?)")


def _clock(texts: Texts, slot: Slot, tz: tzinfo) -> tuple[str, str]:
    start, end = slot.starts_at.astimezone(tz), slot.ends_at.astimezone(tz)
    return (
        texts.get("events.end_time", hour=start.hour, minute=start.minute),
        texts.get("events.end_time", hour=end.hour, minute=end.minute),
    )


def slot_time(texts: Texts, slot: Slot, tz: tzinfo) -> str:
    """13:40〜14:20 税理士: the slot within its day (a button's label, a line of a list)."""
    start, end = _clock(texts, slot, tz)
    text = texts.get("events.range", start=start, end=end)
    return texts.get("slots.with_advisor", time=text, advisor=slot.advisor) if slot.advisor else text


def slot_moment(texts: Texts, slot: Slot, tz: tzinfo) -> str:
    """12月5日(土) 13:40〜14:20 税理士: the slot with its date and weekday."""
    _, end = _clock(texts, slot, tz)
    text = texts.get("events.range", start=moment_text(texts, slot.starts_at, tz), end=end)
    return texts.get("slots.with_advisor", time=text, advisor=slot.advisor) if slot.advisor else text


def slot_choice(event_id: int, slot: Slot, texts: Texts, tz: tzinfo) -> Choice:
    return Choice(slot_time(texts, slot, tz), f"event:{event_id}:slot:{slot.id}")


def typed_time(text: str) -> tuple[int, int] | None:
    """The hour and minute a typed answer names (14:00, 14時, 14時半, 午後2時), or None."""
    found = _TIME.search(normalise(text))
    if found is None:
        return None
    period, hour_text, colon_minutes, half, minutes = found.groups()
    hour = int(hour_text)
    minute = int(colon_minutes or minutes or 0) + (30 if half else 0)
    if period == "午後" and hour < 12:
        hour += 12
    if hour > 23 or minute > 59:
        return None
    return hour, minute


def pick(text: str, options: Sequence[Choice], slots: Sequence[Slot], tz: tzinfo) -> matching.Match:
    """The option a typed answer names; `options` start with one choice per slot of `slots`, in the
    same order (then the question's own, such as 一覧に戻る). A number names its line; a time names
    the slot starting then (2時 is 14:00 when no slot starts at 2:00); else as any choice is matched."""
    if matching.number(text, len(options)) is not None:
        return matching.match(text, options)
    typed = typed_time(text)
    if typed is not None:
        hour, minute = typed
        for candidate_hour in (hour, hour + 12) if hour < 12 else (hour,):
            starting = [
                (o, s)
                for o, s in zip(options, slots, strict=False)
                if (s.starts_at.astimezone(tz).hour, s.starts_at.astimezone(tz).minute)
                == (candidate_hour, minute)
            ]
            if len(starting) > 1:  # several advisors at that time: the one named, if any
                key = fold(text)
                named = [(o, s) for o, s in starting if s.advisor and fold(s.advisor) in key]
                starting = named or starting
            if len(starting) == 1:
                return matching.Match(starting[0][0])
            if starting:
                return matching.Match(candidates=tuple(o for o, _ in starting))
    return matching.match(text, options)
