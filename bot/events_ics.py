"""iCalendar both ways, with the icalendar package: `GET /events.ics` (the upcoming public events, for
anyone's calendar app) and `.ics` files for `madoguchi events import`.

The feed holds public events only, in the center's timezone (with its VTIMEZONE), cancelled ones
marked STATUS:CANCELLED until they would have ended (so subscribed calendars drop them). It carries
the venue but not the online address: that goes to registrants only.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
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
# How long one rendering of the feed answers every request (docs/events.md): a change staff make shows
# within this, and a calendar app that fetched just before keeps its copy CACHE_SECONDS more anyway.
RENDERED_SECONDS = 60


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


@dataclass(frozen=True)
class _Rendering:
    body: bytes
    etag: str
    at: datetime

    def fresh(self, now: datetime) -> bool:
        # A clock set back (NTP) renders again rather than keep this one until it catches up.
        return self.at <= now < self.at + timedelta(seconds=RENDERED_SECONDS)


def _rendered(events: list[Event], settings: Settings) -> tuple[bytes, str]:
    body = calendar_bytes(events, settings)
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


class EventsFeed:
    """`GET /events.ics`: no personal data, no authentication.

    Public (calendar apps subscribe), so anyone can ask as often as they like, while rendering 500
    events takes a few hundred ms: one rendering answers every request for RENDERED_SECONDS,
    conditional ones (304) without reading anything, and a new one is rendered off the event loop (which
    also acknowledges webhooks), one at a time: requests that come meanwhile wait for it."""

    def __init__(self, db: Database, settings: Settings, clock: Clock) -> None:
        self._db = db
        self._settings = settings
        self._clock = clock
        self._rendering: _Rendering | None = None
        self._rendering_lock = asyncio.Lock()

    async def handle(self, request: web.Request) -> web.Response:
        rendering = await self._current()
        headers = {"ETag": rendering.etag, "Cache-Control": f"public, max-age={CACHE_SECONDS}"}
        if request.headers.get("If-None-Match") == rendering.etag:
            return web.Response(status=304, headers=headers)
        return web.Response(
            body=rendering.body, content_type="text/calendar", charset="utf-8", headers=headers
        )

    async def _current(self) -> _Rendering:
        rendering = self._rendering
        if rendering is not None and rendering.fresh(self._clock()):
            return rendering
        async with self._rendering_lock:
            now = self._clock()
            rendering = self._rendering
            if rendering is not None and rendering.fresh(now):  # rendered while this request waited
                return rendering
            events = await self._db.read.events.upcoming_public(now)
            body, etag = await asyncio.to_thread(_rendered, events, self._settings)
            self._rendering = _Rendering(body, etag, now)
            return self._rendering


# -- import ---------------------------------------------------------------------------------------


def _vevent_lines(text: str) -> list[int]:
    """The line of each BEGIN:VEVENT, in order (to name a bad event by where it is)."""
    return [i for i, line in enumerate(text.splitlines(), 1) if line.strip().upper() == "BEGIN:VEVENT"]


def _moment(vevent: icalendar.Component, prop: str, settings: Settings) -> datetime:
    """DTSTART or DTEND as an aware time: in its own timezone (a known TZID, one of the file's
    VTIMEZONEs or UTC), or the center's when it names none. A TZID that names no zone is an error:
    reading it as the center's time would move the event without a word."""
    field = prop.upper()
    _once(vevent, prop)
    value = vevent.decoded(prop)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return value
        tzid = vevent[prop].params.get("TZID")
        if tzid:
            raise FieldError(
                field,
                f"unknown time zone TZID={_shown(tzid)} (use a zone name such as Asia/Tokyo, or include"
                " its VTIMEZONE)",
            )
        return value.replace(tzinfo=settings.center.tz)
    if isinstance(value, date):
        raise FieldError(field, "a date without a time (give the time of day)")
    raise FieldError(field, "not a date and time")


def _end(vevent: icalendar.Component, start: datetime, settings: Settings) -> datetime | None:
    """DTEND, or DTSTART + DURATION (not both), or None."""
    has_duration = vevent.get("duration") is not None
    if vevent.get("dtend") is not None:
        if has_duration:
            raise FieldError("DURATION", "given with DTEND: give one of them")
        return _moment(vevent, "dtend", settings)
    if not has_duration:
        return None
    _once(vevent, "duration")
    duration = vevent.decoded("duration")
    if not isinstance(duration, timedelta):  # a value icalendar could not read, or a date
        written = _shown(vevent["duration"].to_ical())
        raise FieldError("DURATION", f"not a duration (expected such as PT2H or PT90M; got {written})")
    if duration <= timedelta(0):
        raise FieldError("DURATION", "must be longer than zero (such as PT2H)")
    try:
        return start + duration
    except OverflowError:
        raise FieldError("DURATION", "too long") from None


def _refuse_extra_dates(vevent: icalendar.Component) -> None:
    """RRULE and RDATE repeat the event: importing its first date alone would lose the others."""
    if vevent.get("rrule") is not None:
        raise FieldError("RRULE", "repeating events are not imported: list each date as its own event")
    rdate = vevent.get("rdate")
    if rdate is None:
        return
    for value in rdate if isinstance(rdate, list) else [rdate]:
        if isinstance(value, icalendar.vBroken):
            raise FieldError("RDATE", f"not a date and time (got {_shown(value)})")
    raise FieldError("RDATE", "extra dates are not imported: list each date as its own event")


def _deadline(vevent: icalendar.Component) -> str:
    """X-MADOGUCHI-REGISTRATION-DEADLINE as written (read as in a CSV file); a TZID on it is not
    read, so it is refused rather than the time taken as the center's."""
    value = vevent.get(DEADLINE_PROPERTY)
    if value is None:
        return ""
    if getattr(value, "params", {}).get("TZID"):
        raise FieldError(
            "registration_deadline",
            "TZID is not read here: write the time with its offset (2027-01-14T17:00+09:00) or in the"
            " center's time",
        )
    return str(value)


def _once(vevent: icalendar.Component, prop: str) -> None:
    """A property that holds one value must be there once (icalendar gives a list otherwise)."""
    if isinstance(vevent[prop], list):
        raise FieldError(prop.upper(), "given twice")


def _shown(value: object, limit: int = 40) -> str:
    """A value from the file, quoted and shortened for an error line (repr escapes control characters)."""
    text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
    return repr(text[:limit])


def _which(vevent: icalendar.Component) -> str:
    """The event's SUMMARY and UID, to name it in an error alongside its line."""
    named = [f"{key} {_shown(vevent[key], 60)}" for key in ("SUMMARY", "UID") if vevent.get(key)]
    return f" ({', '.join(named)})" if named else ""


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
        where += _which(vevent)
        try:
            _refuse_extra_dates(vevent)
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
            start = _moment(vevent, "dtstart", settings)
            end = _end(vevent, start, settings)
            alarms = [minutes_before(a.get("trigger").dt) for a in vevent.walk("VALARM") if a.get("trigger")]
            offsets = [m for m in alarms if m is not None]
            klass = str(vevent.get("class") or "PUBLIC").upper()
            values = {
                "uid": str(vevent.get("uid") or ""),
                "kind": kind,
                "title": str(vevent.get("summary") or ""),
                "description": str(vevent.get("description") or ""),
                "starts_at": start.isoformat(),
                "ends_at": "" if end is None else end.isoformat(),
                "venue": str(vevent.get("location") or ""),
                "online_url": str(vevent.get(ONLINE_URL_PROPERTY) or vevent.get("url") or ""),
                "capacity": str(vevent.get(CAPACITY_PROPERTY) or ""),
                "registration_deadline": _deadline(vevent),
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
    "kind": f"{KIND_PROPERTY} or CATEGORIES",  # the kind is read from either
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
