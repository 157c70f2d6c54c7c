"""GET /events.ics: the upcoming public events as iCalendar that the icalendar package parses back."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import icalendar

from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from storage.events import EventDraft
from tests.conftest import NOW
from tests.harness import settings_for

TOKYO = ZoneInfo("Asia/Tokyo")
START = datetime(2026, 12, 5, 18, 30, tzinfo=TOKYO)


def draft(uid: str, **changes: object) -> EventDraft:
    base = EventDraft(
        uid=uid,
        kind="salon",
        title="ミズベサロン <b>&</b>",
        starts_at=START,
        ends_at=START + timedelta(hours=2),
        description="一行目\n二行目, セミコロン; も",
        venue="市民協働推進センター",
        online_url="https://example.org/secret-room",
    )
    return EventDraft(**{**base.__dict__, **changes})


async def test_the_feed_parses_back_with_public_events_in_tokyo_time(tmp_path: Path, line: FakeLine) -> None:
    settings = settings_for(tmp_path, line.base_url)
    async with Runtime(settings, clock=lambda: NOW) as bot:
        async with bot.db.transaction() as tx:
            await tx.events.upsert(draft("public-1"), NOW)
            await tx.events.upsert(draft("internal", public=False), NOW)
            await tx.events.upsert(draft("past", starts_at=NOW - timedelta(days=2), ends_at=None), NOW)
            cancelled = await tx.events.upsert(draft("cancelled", starts_at=START + timedelta(days=1)), NOW)
            await tx.events.set_status(cancelled.id, "cancelled", NOW)
        async with aiohttp.ClientSession() as session, session.get(f"{bot.base_url}/events.ics") as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
            body = await response.read()
            etag = response.headers["ETag"]
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{bot.base_url}/events.ics", headers={"If-None-Match": etag}) as again,
        ):
            assert again.status == 304
    calendar = icalendar.Calendar.from_ical(body)
    events = list(calendar.walk("VEVENT"))
    assert [str(e["uid"]) for e in events] == ["public-1", "cancelled"]
    first = events[0]
    assert first.decoded("dtstart") == START and first.decoded("dtstart").tzinfo.key == "Asia/Tokyo"
    assert first.decoded("dtend") == START + timedelta(hours=2)
    assert str(first["summary"]) == "ミズベサロン <b>&</b>"
    assert str(first["description"]) == "一行目\n二行目, セミコロン; も"
    assert str(first["location"]) == "市民協働推進センター" and str(first["status"]) == "CONFIRMED"
    assert str(events[1]["status"]) == "CANCELLED"
    assert b"secret-room" not in body  # the online address goes to registrants only
    assert [str(tz["tzid"]) for tz in calendar.walk("VTIMEZONE")] == ["Asia/Tokyo"]
