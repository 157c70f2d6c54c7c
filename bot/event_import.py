"""Events from a file: `madoguchi events import FILE --config PATH` (CSV or iCalendar), all or nothing.

Every row is checked before anything is saved: the first bad one stops the import with one message
naming the file, its line and the field (`events.csv:7: starts_at: not a date and time (expected
2026-12-01 18:30)`), and nothing is imported. Events are identified by their uid, so importing the
same file again changes what changed and duplicates nothing. Times are read in the center's timezone
(Asia/Tokyo) unless they say otherwise, and stored in UTC. The columns are documented in
docs/events.md. The same field checks serve the Slack modal (bot/slack/events.py).
"""

from __future__ import annotations

import csv
import io
import os
import re
import stat
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from bot.case_export import write_csv
from bot.clock import utc_now
from bot.config import Settings
from bot.reminders import reschedule_event
from flows.texts import Texts
from storage import Database
from storage.events import Change, Event, EventDraft, EventSource
from storage.slots import MAX_ADVISORS, MAX_SLOTS, SeatsWithoutSlots, SlotsBooked, split_advisors

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_EVENTS = 5000
MAX_UID = 200
MAX_TITLE = 150
MAX_DESCRIPTION = 3000
MAX_VENUE = 200
MAX_URL = 500
MAX_CAPACITY = 100_000
MAX_SLOT_MINUTES = 480
MAX_SLOT_BREAK = 240
MAX_ADVISOR = 30

COLUMNS = (
    "uid",
    "kind",
    "title",
    "description",
    "starts_at",
    "ends_at",
    "venue",
    "online_url",
    "capacity",
    "registration_deadline",
    "public",
    "reminders",
    "slots",
    "slot_minutes",
    "slot_break",
    "slot_advisors",
)
REQUIRED = ("uid", "kind", "title", "starts_at")
TIME_EXAMPLE = "2026-12-01 18:30"
_TIME_FORMATS = (
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y/%m/%d %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
)
_TRUE = frozenset({"1", "true", "yes", "y", "public", "公開", "○"})
_FALSE = frozenset({"0", "false", "no", "n", "internal", "private", "内部", "非公開", "×"})
_NO_REMINDERS = frozenset({"none", "なし", "-"})
# Reminder offsets as [events] reminder_offsets writes them: "3d", "2h", "30m".
_OFFSET = re.compile(r"([1-9][0-9]{0,5})([mhd])")
_OFFSET_MINUTES = {"m": 1, "h": 60, "d": 1440}
MAX_REMINDER_MINUTES = 60 * 1440
MAX_REMINDER_OFFSETS = 5


class EventFileError(Exception):
    """A file that cannot be imported; the message names the file, line and field."""


class FieldError(ValueError):
    """One field's value is wrong: which field, and what is expected."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# -- one event's fields, from text (a CSV row or the Slack modal) ---------------------------------


def normalise(text: str) -> str:
    """Full-width digits, letters, colons and spaces (a Japanese keyboard's) as ASCII, trimmed."""
    return unicodedata.normalize("NFKC", text).strip()


def parse_time(field: str, text: str, tz: tzinfo) -> datetime:
    """`2026-12-01 18:30` in the center's timezone (or with an explicit offset) as an aware time."""
    value = normalise(text)
    for fmt in _TIME_FORMATS:
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=tz)
        except ValueError:
            continue
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None or len(value) < len(TIME_EXAMPLE):
        raise FieldError(field, f"not a date and time (expected {TIME_EXAMPLE})")
    return moment


def parse_reminders(text: str) -> tuple[int, ...] | None:
    """`3d 1d 2h` (or with `;` / `,`) as minutes before the start; empty: the configured default;
    `none` / `なし`: no reminders."""
    value = normalise(text).lower()
    if not value:
        return None
    if value in _NO_REMINDERS:
        return ()
    minutes = []
    for part in (p for p in re.split(r"[\s;,、]+", value) if p):
        found = _OFFSET.fullmatch(part)
        if found is None:
            raise FieldError(
                "reminders", f'expected times before the start such as "3d 1d 2h" or "30m" (got {part!r})'
            )
        minutes.append(int(found.group(1)) * _OFFSET_MINUTES[found.group(2)])
        if minutes[-1] > MAX_REMINDER_MINUTES:
            raise FieldError(
                "reminders", f"at most {MAX_REMINDER_MINUTES // 1440}d before the start (got {part!r})"
            )
    if len(set(minutes)) != len(minutes):
        raise FieldError("reminders", "the same time is given twice")
    if len(minutes) > MAX_REMINDER_OFFSETS:
        raise FieldError("reminders", f"at most {MAX_REMINDER_OFFSETS} reminders per event")
    return tuple(sorted(minutes, reverse=True))


def kind_id(settings: Settings, text: str) -> str:
    """A kind named by its id or its label."""
    value = normalise(text)
    for kind in settings.events.kinds:
        if value in (kind.id, normalise(kind.label)):
            return kind.id
    known = ", ".join(k.id for k in settings.events.kinds)
    raise FieldError("kind", f"unknown kind {value!r} (one of: {known})")


def kind_label(settings: Settings, kind: str) -> str:
    return next((k.label for k in settings.events.kinds if k.id == kind), kind)


def field_text(values: Mapping[str, str], field: str, limit: int, *, multiline: bool = False) -> str:
    """A text field of a file row or a form, trimmed (and on one line unless `multiline`); FieldError
    when it is longer than `limit`."""
    value = (values.get(field) or "").strip()
    if not multiline:
        value = " ".join(value.split())
    if len(value) > limit:
        raise FieldError(field, f"at most {limit} characters (got {len(value)})")
    return value


# A web address; no `|`, which would let a Slack link show another label (<url|label>).
_URL = re.compile(r"https?://[^\s<>\"|]+")


def field_url(values: Mapping[str, str], field: str) -> str:
    """A web address field (empty allowed), full-width characters folded; FieldError otherwise."""
    value = normalise(field_text(values, field, MAX_URL))
    if value and not _URL.fullmatch(value):
        raise FieldError(field, "not a web address (expected https://...)")
    return value


def draft_from_fields(
    values: Mapping[str, str], settings: Settings, *, source: EventSource = "import"
) -> EventDraft:
    """One event from its fields as text (COLUMNS); FieldError names the first bad one."""
    tz = settings.center.tz
    uid = field_text(values, "uid", MAX_UID)
    if not uid:
        raise FieldError("uid", "required (a stable id such as salon-2026-12, so a re-import updates it)")
    title = field_text(values, "title", MAX_TITLE)
    if not (values.get("kind") or "").strip():
        raise FieldError("kind", "required")
    kind = kind_id(settings, values.get("kind") or "")
    if not title:
        raise FieldError("title", "required")
    if not (values.get("starts_at") or "").strip():
        raise FieldError("starts_at", f"required (expected {TIME_EXAMPLE})")
    starts_at = parse_time("starts_at", values.get("starts_at") or "", tz)
    ends_at = None
    if (values.get("ends_at") or "").strip():
        ends_at = parse_time("ends_at", values.get("ends_at") or "", tz)
        if ends_at <= starts_at:
            raise FieldError("ends_at", "must be after starts_at")
    deadline = None
    if (values.get("registration_deadline") or "").strip():
        deadline = parse_time("registration_deadline", values.get("registration_deadline") or "", tz)
        if deadline > starts_at:
            raise FieldError("registration_deadline", "must not be after starts_at")
    capacity = None
    capacity_text = normalise(values.get("capacity") or "")
    if capacity_text:
        if not re.fullmatch(r"-?[0-9]+", capacity_text):
            raise FieldError("capacity", "not a whole number (leave it empty for no limit)")
        # More digits than any capacity has (and than int() reads: 4,300) is out of range all the same.
        if len(capacity_text) > 9 or not 1 <= int(capacity_text) <= MAX_CAPACITY:
            raise FieldError("capacity", f"must be between 1 and {MAX_CAPACITY} (empty for no limit)")
        capacity = int(capacity_text)
    online_url = field_url(values, "online_url")
    public_text = normalise(values.get("public") or "").lower()
    if public_text and public_text not in _TRUE | _FALSE:
        raise FieldError("public", "expected 1 (public) or 0 (internal)")
    slot_plan = _slot_plan(values, starts_at, ends_at, capacity, tz)
    if slot_plan is not None:
        capacity, ends_at = slot_plan.capacity, slot_plan.ends_at
    return EventDraft(
        uid=uid,
        kind=kind,
        title=title,
        starts_at=starts_at,
        description=field_text(values, "description", MAX_DESCRIPTION, multiline=True),
        venue=field_text(values, "venue", MAX_VENUE),
        ends_at=ends_at,
        capacity=capacity,
        registration_deadline=deadline,
        online_url=online_url,
        public=public_text not in _FALSE,
        reminder_offsets=parse_reminders(values.get("reminders") or ""),
        source=source,
        **({} if slot_plan is None else slot_plan.fields),
    )


def _whole(values: Mapping[str, str], field: str, low: int, high: int) -> int | None:
    """A whole number from `low` to `high`, or None when the field is empty."""
    text = normalise(values.get(field) or "")
    if not text:
        return None
    # At most 18 digits: more is out of any range here, and int() refuses more than 4,300.
    if not re.fullmatch(r"-?[0-9]{1,18}", text) or not low <= int(text) <= high:
        raise FieldError(field, f"expected a whole number from {low} to {high} (got {text[:20]!r})")
    return int(text)


@dataclass(frozen=True)
class _SlotPlan:
    fields: dict[str, Any]
    capacity: int
    ends_at: datetime


def _slot_plan(
    values: Mapping[str, str], starts_at: datetime, ends_at: datetime | None, capacity: int | None, tz: tzinfo
) -> _SlotPlan | None:
    """A consultation session's slots: `slots` per advisor, `slot_minutes` each, `slot_break` between,
    from the start. The capacity is one booking per slot; the end, when not given, the last slot's."""
    count = _whole(values, "slots", 1, MAX_SLOTS)
    minutes = _whole(values, "slot_minutes", 5, MAX_SLOT_MINUTES)
    pause = _whole(values, "slot_break", 0, MAX_SLOT_BREAK)
    advisors_text = " ".join((values.get("slot_advisors") or "").split())
    advisors = split_advisors(normalise(advisors_text))
    if count is None:
        if minutes is not None or pause is not None or advisors:
            raise FieldError(
                "slots", "required with slot_minutes, slot_break or slot_advisors (how many slots)"
            )
        return None
    if minutes is None:
        raise FieldError("slot_minutes", f"required with slots (minutes per slot, 5 to {MAX_SLOT_MINUTES})")
    if len(advisors) > MAX_ADVISORS or len(set(advisors)) != len(advisors):
        raise FieldError(
            "slot_advisors", f"at most {MAX_ADVISORS} different advisors, such as 税理士、社会保険労務士"
        )
    if any(len(a) > MAX_ADVISOR for a in advisors):
        raise FieldError("slot_advisors", f"each advisor at most {MAX_ADVISOR} characters")
    total = count * max(1, len(advisors))
    if total > MAX_SLOTS:
        raise FieldError("slots", f"at most {MAX_SLOTS} slots in all (slots x advisors = {total})")
    if capacity is not None and capacity != total:
        raise FieldError("capacity", f"a session takes one booking per slot: leave it empty or write {total}")
    pause = pause or 0
    last_end = starts_at + timedelta(minutes=count * minutes + (count - 1) * pause)
    if ends_at is not None and last_end > ends_at:
        end = last_end.astimezone(tz).strftime("%H:%M")
        raise FieldError("slots", f"the slots end at {end}, after ends_at")
    fields = {
        "slot_count": count,
        "slot_minutes": minutes,
        "slot_break": pause,
        "slot_advisors": "、".join(advisors),
    }
    return _SlotPlan(fields, total, ends_at or last_end)


def booked_text(error: SlotsBooked, tz: tzinfo) -> str:
    """The booked slots a change would drop or move, for the error message."""
    return ", ".join(
        f"{when(s.starts_at, tz)}-{s.ends_at.astimezone(tz).strftime('%H:%M')}"
        + (f" {s.advisor}" if s.advisor else "")
        + (f" (case {s.case_number})" if s.case_number else "")
        for s in error.booked
    )


def reminders_text(offsets: Sequence[int] | None) -> str:
    """Offsets in minutes as `3d 1d 2h` (the form parse_reminders reads); '' for the default."""
    if offsets is None:
        return ""
    if not offsets:
        return "none"
    words = []
    for minutes in offsets:
        if minutes % 1440 == 0:
            words.append(f"{minutes // 1440}d")
        elif minutes % 60 == 0:
            words.append(f"{minutes // 60}h")
        else:
            words.append(f"{minutes}m")
    return " ".join(words)


# -- files ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Parsed:
    drafts: list[EventDraft]
    skipped: int = 0  # cancelled iCalendar events that are not imported
    lines: tuple[int, ...] = ()  # the line each draft starts on (CSV), for errors found when saving


def read_events(path: Path, settings: Settings, name: str | None = None) -> Parsed:
    """Every event in the file, checked; EventFileError at the first problem."""
    name = name or str(path)
    data = _read_bounded(path, name)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise EventFileError(
            f"{name}:{line}: not UTF-8 text (save the file as 'CSV UTF-8' or UTF-8 iCalendar)"
        ) from None
    if path.suffix.lower() in (".ics", ".ical", ".ifb") or text.lstrip().upper().startswith(
        "BEGIN:VCALENDAR"
    ):
        from bot.events_ics import read_calendar

        return read_calendar(text, settings, name)
    drafts, lines = _read_csv(text, settings, name)
    return Parsed(drafts, lines=tuple(lines))


def _read_bounded(path: Path, name: str) -> bytes:
    """The file's bytes, never more than MAX_FILE_BYTES of them held: a regular file only (a named
    pipe would block the open, a device such as /dev/zero never ends), its size checked before
    reading, and the read itself bounded, since the file can grow meanwhile."""
    too_large = EventFileError(f"{name}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
    try:
        # O_NONBLOCK: opening a named pipe with no writer returns at once instead of waiting forever.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise EventFileError(f"cannot read {name}: {exc.strerror or type(exc).__name__}") from None
    with os.fdopen(fd, "rb") as file:
        try:
            status = os.fstat(fd)
            if not stat.S_ISREG(status.st_mode):
                raise EventFileError(f"{name}: not a regular file (give a .csv or .ics file)")
            if status.st_size > MAX_FILE_BYTES:
                raise too_large
            data = file.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise EventFileError(f"cannot read {name}: {exc.strerror or type(exc).__name__}") from None
    if len(data) > MAX_FILE_BYTES:
        raise too_large
    return data


def _read_csv(text: str, settings: Settings, name: str) -> tuple[list[EventDraft], list[int]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise EventFileError(f"{name}:1: {exc}") from None
    if header is None or not any(h.strip() for h in header):
        raise EventFileError(f"{name}:1: no header row (expected the columns {', '.join(COLUMNS)})")
    columns = [normalise(h).lower() for h in header]
    for column in columns:
        if column not in COLUMNS:
            raise EventFileError(f"{name}:1: unknown column {column!r} (the columns: {', '.join(COLUMNS)})")
    if len(set(columns)) != len(columns):
        raise EventFileError(f"{name}:1: a column appears twice")
    for column in REQUIRED:
        if column not in columns:
            raise EventFileError(f"{name}:1: missing column {column}")
    drafts: list[EventDraft] = []
    seen: dict[str, int] = {}
    line = reader.line_num + 1  # where the next record starts
    while True:
        try:
            row = next(reader, None)
        except csv.Error as exc:
            raise EventFileError(f"{name}:{line}: {exc}") from None
        if row is None:
            break
        start, line = line, reader.line_num + 1
        if not any(cell.strip() for cell in row):
            continue  # blank lines, as spreadsheets leave them
        if len(row) > len(columns):
            raise EventFileError(f"{name}:{start}: {len(row)} cells, but the header has {len(columns)}")
        values = dict(zip(columns, row, strict=False))
        try:
            draft = draft_from_fields(values, settings)
        except FieldError as exc:
            raise EventFileError(f"{name}:{start}: {exc}") from None
        if draft.uid in seen:
            raise EventFileError(f"{name}:{start}: uid: {draft.uid!r} is already on line {seen[draft.uid]}")
        seen[draft.uid] = start
        drafts.append(draft)
        if len(drafts) > MAX_EVENTS:
            raise EventFileError(f"{name}: more than {MAX_EVENTS} events; split the file")
    return drafts, list(seen.values())


def minutes_before(trigger: Any) -> int | None:
    """A VALARM trigger relative to the start (`-PT2H`) as minutes before it; None if not one."""
    if isinstance(trigger, timedelta) and trigger <= timedelta(0):
        return int(-trigger.total_seconds() // 60)
    return None


# -- the commands ---------------------------------------------------------------------------------


async def import_events(settings: Settings, file: str) -> int:
    """`madoguchi events import FILE`: everything in one transaction, or nothing."""
    parsed = read_events(Path(file), settings, file)
    texts = Texts.load()  # before the open: an error here must not leave the database open
    db = await Database.open(settings.database_path, settings.storage.busy_timeout_ms)
    counts: dict[Change, int] = {"added": 0, "updated": 0, "unchanged": 0}
    moved = 0
    try:
        now = utc_now()
        async with db.transaction() as tx:
            for number, draft in enumerate(parsed.drafts):
                before = await tx.events.by_uid(draft.uid)
                try:
                    event, change = await tx.events.save(draft, now)
                except SlotsBooked as exc:  # raised inside the transaction: nothing is saved
                    where = f"{file}:{parsed.lines[number]}" if parsed.lines else f"{file}: uid {draft.uid}"
                    raise EventFileError(
                        f"{where}: slots: booked slots would be dropped or moved: "
                        f"{booked_text(exc, settings.center.tz)} (cancel those bookings first, or keep them)"
                    ) from None
                except SeatsWithoutSlots as exc:
                    where = f"{file}:{parsed.lines[number]}" if parsed.lines else f"{file}: uid {draft.uid}"
                    raise EventFileError(
                        f"{where}: slots: {exc.count} sign-up(s) made before the event had slots hold no slot"
                        " (cancel them first, or keep the event without slots)"
                    ) from None
                counts[change] += 1
                if before is not None and before.starts_at != event.starts_at:
                    # Its reminders move with it and registrants are told (sent by the running bot).
                    moved += 1
                    await reschedule_event(tx, event.id, settings=settings, texts=texts, now=now)
    finally:
        await db.close()
    skipped = f", {parsed.skipped} cancelled skipped" if parsed.skipped else ""
    if moved:
        skipped += f", {moved} moved to a new time (registrants will be told)"
    print(
        f"{file}: {len(parsed.drafts)} event(s): {counts['added']} added, {counts['updated']} updated, "
        f"{counts['unchanged']} unchanged{skipped}"
    )
    return 0


def when(moment: datetime | None, tz: tzinfo) -> str:
    return "" if moment is None else moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")


async def list_events(settings: Settings) -> int:
    """`madoguchi events list`: upcoming events (public and internal), in the center's time."""
    tz = settings.center.tz
    db = await Database.open(settings.database_path, settings.storage.busy_timeout_ms)
    try:
        events = await db.read.events.listing(utc_now(), limit=1000, cancelled=True)
        taken = [await db.read.registrations.seats_taken(e.id) for e in events]
    finally:
        await db.close()
    if not events:
        print("no upcoming events")
        return 0
    print(f"times in {tz}")
    for event, seats in zip(events, taken, strict=True):
        capacity = "∞" if event.capacity is None else str(event.capacity)
        flags = [kind_label(settings, event.kind)]
        if not event.public:
            flags.append("internal")
        if event.status != "open":
            flags.append(event.status)
        end = "" if event.ends_at is None else "-" + event.ends_at.astimezone(tz).strftime("%H:%M")
        print(
            f"{when(event.starts_at, tz)}{end}  {seats}/{capacity}  {event.title}  "
            f"[{', '.join(flags)}]  id={event.id} uid={event.uid}"
        )
    return 0


REPORT_HEADER = [
    "month",
    "kind",
    "events",
    "events_cancelled",
    "registrations",
    "waitlisted",
    "registrations_cancelled",
]


def report_rows(
    events: list[Event], statuses: Mapping[int, Sequence[str]], settings: Settings
) -> list[list[object]]:
    """Counts per month of the start (center's time) and kind: events held and cancelled, and the
    sign-ups of the events held by their status (registered, waitlisted, cancelled)."""
    tz = settings.center.tz
    table: dict[tuple[str, str], list[int]] = {}
    for event in events:
        key = (event.starts_at.astimezone(tz).strftime("%Y-%m"), kind_label(settings, event.kind))
        row = table.setdefault(key, [0, 0, 0, 0, 0])
        if event.status == "cancelled":
            row[1] += 1
            continue
        found = statuses.get(event.id, [])
        row[0] += 1
        row[2] += found.count("registered")
        row[3] += found.count("waitlisted")
        row[4] += found.count("cancelled")
    return [[*key, *table[key]] for key in sorted(table)]


async def report_events(settings: Settings, output: str | None) -> int:
    """`madoguchi events report`: CSV (UTF-8 with BOM, CRLF) of counts, no personal data."""
    db = await Database.open(settings.database_path, settings.storage.busy_timeout_ms)
    try:
        events = await db.read.events.all_events()
        statuses = {e.id: [r.status for r in await db.read.registrations.for_event(e.id)] for e in events}
    finally:
        await db.close()
    write_csv([REPORT_HEADER, *report_rows(events, statuses, settings)], output)
    return 0
