"""iCalendar both ways, with the icalendar package: `GET /events.ics` (the upcoming public events, for
anyone's calendar app) and `.ics` files for `madoguchi events import`.

The feed holds public events only, in the center's timezone (with its VTIMEZONE), cancelled ones
marked STATUS:CANCELLED until they would have ended (so subscribed calendars drop them). It carries
the venue but not the online address: that goes to registrants only.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta

import icalendar
from aiohttp import web

from bot.clock import Clock
from bot.config import Settings
from bot.event_import import (
    MAX_EVENTS,
    EventFileError,
    FieldError,
    Parsed,
    draft_from_fields,
    kind_label,
    minutes_before,
    reminders_text,
)
from storage import Database
from storage.events import Event, EventDraft

PRODID = "-//madoguchi//events//JA"
KIND_PROPERTY = "X-MADOGUCHI-KIND"
CAPACITY_PROPERTY = "X-MADOGUCHI-CAPACITY"
DEADLINE_PROPERTY = "X-MADOGUCHI-REGISTRATION-DEADLINE"
ONLINE_URL_PROPERTY = "X-MADOGUCHI-ONLINE-URL"
CACHE_SECONDS = 300


# -- the feed -------------------------------------------------------------------------------------


def calendar_bytes(events: list[Event], settings: Settings) -> bytes:
    tz = settings.center.tz
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", settings.center.name)
    cal.add("x-wr-timezone", str(tz))
    for event in events:
        item = icalendar.Event()
        item.add("uid", event.uid)
        item.add("dtstamp", event.updated_at.astimezone(UTC))
        item.add("last-modified", event.updated_at.astimezone(UTC))
        item.add("summary", event.title)
        item.add("dtstart", event.starts_at.astimezone(tz))
        if event.ends_at is not None:
            item.add("dtend", event.ends_at.astimezone(tz))
        if event.description:
            item.add("description", event.description)
        location = event.venue or ("オンライン" if event.online_url else "")
        if location:
            item.add("location", location)
        item.add("categories", [kind_label(settings, event.kind)])
        item.add("status", "CANCELLED" if event.status == "cancelled" else "CONFIRMED")
        cal.add_component(item)
    cal.add_missing_timezones()
    return bytes(cal.to_ical())


class EventsFeed:
    """`GET /events.ics`: no personal data, no authentication."""

    def __init__(self, db: Database, settings: Settings, clock: Clock) -> None:
        self._db = db
        self._settings = settings
        self._clock = clock

    async def handle(self, request: web.Request) -> web.Response:
        events = await self._db.read.events.upcoming_public(self._clock())
        body = calendar_bytes(events, self._settings)
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        headers = {"ETag": etag, "Cache-Control": f"public, max-age={CACHE_SECONDS}"}
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers=headers)
        return web.Response(body=body, content_type="text/calendar", charset="utf-8", headers=headers)


# -- import ---------------------------------------------------------------------------------------


def _vevent_lines(text: str) -> list[int]:
    """The line of each BEGIN:VEVENT, in order (to name a bad event by where it is)."""
    return [i for i, line in enumerate(text.splitlines(), 1) if line.strip().upper() == "BEGIN:VEVENT"]


def _time_text(value: object, settings: Settings, field: str, *, end: bool = False) -> str:
    """A DTSTART/DTEND value as the text draft_from_fields reads (its own offset, if it has one)."""
    tz = settings.center.tz
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=tz)
        return moment.isoformat()
    if isinstance(value, date):
        raise FieldError(field, "a date without a time (give the time of day)")
    raise FieldError(field, "not a date and time")


def read_calendar(text: str, settings: Settings, name: str) -> Parsed:
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except ValueError as exc:
        raise EventFileError(f"{name}: not a valid iCalendar file ({exc})") from None
    lines = _vevent_lines(text)
    drafts: list[EventDraft] = []
    seen: set[str] = set()
    skipped = 0
    default_kind = "other" if any(k.id == "other" for k in settings.events.kinds) else ""
    for index, vevent in enumerate(calendar.walk("VEVENT")):
        where = f"{name}:{lines[index]}" if index < len(lines) else f"{name}: event {index + 1}"
        try:
            if vevent.get("rrule") is not None:
                raise FieldError(
                    "RRULE", "repeating events are not imported: list each date as its own event"
                )
            status = str(vevent.get("status") or "").upper()
            if status == "CANCELLED":
                skipped += 1
                continue
            categories = vevent.get("categories")
            cats: list[str] = []
            for group in categories if isinstance(categories, list) else [categories] if categories else []:
                cats += [str(c) for c in getattr(group, "cats", [group])]
            kind = str(vevent.get(KIND_PROPERTY) or (cats[0] if cats else default_kind))
            if not vevent.get("dtstart"):
                raise FieldError("DTSTART", "missing")
            start_value = vevent.decoded("dtstart")
            starts = _time_text(start_value, settings, "DTSTART")
            ends = ""
            if vevent.get("dtend") is not None:
                ends = _time_text(vevent.decoded("dtend"), settings, "DTEND")
            elif vevent.get("duration") is not None and isinstance(start_value, datetime):
                duration = vevent.decoded("duration")
                if isinstance(duration, timedelta):
                    ends = _time_text(start_value + duration, settings, "DURATION")
            deadline = ""
            if vevent.get(DEADLINE_PROPERTY) is not None:
                deadline = str(vevent.get(DEADLINE_PROPERTY))
            alarms = [minutes_before(a.get("trigger").dt) for a in vevent.walk("VALARM") if a.get("trigger")]
            offsets = [m for m in alarms if m is not None]
            klass = str(vevent.get("class") or "PUBLIC").upper()
            values = {
                "uid": str(vevent.get("uid") or ""),
                "kind": kind,
                "title": str(vevent.get("summary") or ""),
                "description": str(vevent.get("description") or ""),
                "starts_at": starts,
                "ends_at": ends,
                "venue": str(vevent.get("location") or ""),
                "online_url": str(vevent.get(ONLINE_URL_PROPERTY) or vevent.get("url") or ""),
                "capacity": str(vevent.get(CAPACITY_PROPERTY) or ""),
                "registration_deadline": deadline,
                "public": "1" if klass == "PUBLIC" else "0",
                "reminders": reminders_text(offsets) if offsets else "",
            }
            draft = draft_from_fields(values, settings)
        except FieldError as exc:
            raise EventFileError(f"{where}: {_ics_field(exc)}") from None
        if draft.uid in seen:
            raise EventFileError(f"{where}: UID: {draft.uid!r} appears twice")
        seen.add(draft.uid)
        drafts.append(draft)
        if len(drafts) > MAX_EVENTS:
            raise EventFileError(f"{name}: more than {MAX_EVENTS} events; split the file")
    return Parsed(drafts, skipped)


_ICS_NAMES = {
    "uid": "UID",
    "kind": "CATEGORIES",
    "title": "SUMMARY",
    "description": "DESCRIPTION",
    "starts_at": "DTSTART",
    "ends_at": "DTEND",
    "venue": "LOCATION",
    "online_url": "URL",
    "capacity": CAPACITY_PROPERTY,
    "registration_deadline": DEADLINE_PROPERTY,
    "public": "CLASS",
    "reminders": "VALARM",
}


def _ics_field(exc: FieldError) -> str:
    """The message with the iCalendar property's name instead of the CSV column's."""
    return f"{_ICS_NAMES.get(exc.field, exc.field)}: {exc.message}"
