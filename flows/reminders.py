"""What an event's registrants are told: a reminder, a cancellation, a new time.

The same text goes to every registrant in one multicast, so it names the event, its time (in the
center's timezone, with the weekday) and its place, and nothing about the person.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Literal

from flows.dates import moment_text
from flows.texts import Texts

Notice = Literal["reminder", "cancelled", "rescheduled"]


def place_text(texts: Texts, venue: str, online_url: str) -> str:
    """The venue, the online address, or both (未定 when there is neither: nothing says it is online)."""
    parts = [p for p in (venue.strip(), online_url.strip()) if p]
    return " / ".join(parts) if parts else texts.get("reminders.place_undecided")


def event_notice(
    texts: Texts,
    notice: Notice,
    *,
    title: str,
    starts_at: datetime,
    venue: str,
    online_url: str,
    tz: tzinfo,
) -> dict[str, str]:
    """One LINE text message for everyone who signed up."""
    text = texts.get(
        f"reminders.{notice}",
        title=title,
        when=moment_text(texts, starts_at, tz),
        place=place_text(texts, venue, online_url),
    )
    return {"type": "text", "text": text}
