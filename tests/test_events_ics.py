"""GET /events.ics: the upcoming public events as iCalendar that the icalendar package parses back.

The route is public (calendar apps subscribe), and rendering 500 events takes a few hundred ms: one
rendering answers every request for a minute (304s without reading anything), made off the event loop
that acknowledges webhooks, one at a time (review 43 D2). `Renders` counts the real `calendar_bytes`
calls and the thread each ran on; timings are never asserted.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import icalendar
import pytest

import bot.events_ics as events_ics
from bot.config import Settings
from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from storage.events import Event, EventDraft
from tests.conftest import NOW
from tests.harness import settings_for, wait_for

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


class Renders:
    """The real `calendar_bytes`, counted. A rendering off the loop waits for `release` (set unless a
    test holds it), to keep it in progress while more requests come."""

    def __init__(self) -> None:
        self.count = 0
        self.on_loop = 0
        self.release = threading.Event()
        self.release.set()
        self._real = events_ics.calendar_bytes

    def __call__(self, events: list[Event], settings: Settings) -> bytes:
        self.count += 1
        if threading.current_thread() is threading.main_thread():
            self.on_loop += 1  # never held: it would hold the test's own loop too
        else:
            assert self.release.wait(timeout=30)
        return self._real(events, settings)


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> Iterator[Renders]:
    counted = Renders()
    monkeypatch.setattr(events_ics, "calendar_bytes", counted)
    yield counted
    counted.release.set()


async def add_events(bot: Runtime, count: int) -> None:
    async with bot.db.transaction() as tx:
        for i in range(count):
            start = NOW + timedelta(days=3 + i)
            await tx.events.upsert(draft(f"e{i}", starts_at=start, ends_at=start + timedelta(hours=2)), NOW)


async def fetch(session: aiohttp.ClientSession, url: str, etag: str = "") -> tuple[int, bytes, str]:
    headers = {"If-None-Match": etag} if etag else {}
    async with session.get(url, headers=headers) as response:
        return response.status, await response.read(), response.headers["ETag"]


async def test_one_rendering_off_the_loop_answers_every_request_304s_without_rendering(
    tmp_path: Path, line: FakeLine, renders: Renders
) -> None:
    async with Runtime(settings_for(tmp_path, line.base_url), clock=lambda: NOW) as bot:
        await add_events(bot, 50)
        url = f"{bot.base_url}/events.ics"
        async with aiohttp.ClientSession() as session:
            status, body, etag = await fetch(session, url)
            assert status == 200 and body.count(b"BEGIN:VEVENT") == 50
            answers = [await fetch(session, url, etag) for _ in range(19)]
            assert {(status, body, tag) for status, body, tag in answers} == {(304, b"", etag)}
            assert (await fetch(session, url))[1] == body  # unconditional: the same rendering again
    assert renders.count == 1, f"rendered {renders.count} times for 21 requests (19 answered 304)"
    assert renders.on_loop == 0


async def test_requests_that_come_during_a_rendering_wait_for_that_one(
    tmp_path: Path, line: FakeLine, renders: Renders
) -> None:
    async with Runtime(settings_for(tmp_path, line.base_url), clock=lambda: NOW) as bot:
        await add_events(bot, 5)
        assert bot._runner is not None
        server = bot._runner.server
        assert server is not None
        received = server.requests_count
        renders.release.clear()
        url = f"{bot.base_url}/events.ics"
        async with aiohttp.ClientSession() as session:
            asking = [asyncio.ensure_future(fetch(session, url)) for _ in range(8)]
            # All eight are in the server while the first rendering is held (a rendering on the loop
            # is not held, and the eight then come one after another).
            await wait_for(lambda: server.requests_count >= received + 8 or renders.on_loop > 0)
            renders.release.set()
            answers = await asyncio.gather(*asking)
    assert renders.on_loop == 0
    assert renders.count == 1, f"rendered {renders.count} times for 8 requests at once"
    assert len({(status, body, etag) for status, body, etag in answers}) == 1
    assert answers[0][0] == 200 and answers[0][1].count(b"BEGIN:VEVENT") == 5


async def test_a_change_shows_once_the_rendering_is_a_minute_old(
    tmp_path: Path, line: FakeLine, renders: Renders
) -> None:
    now = [NOW]
    async with Runtime(settings_for(tmp_path, line.base_url), clock=lambda: now[0]) as bot:
        async with bot.db.transaction() as tx:
            event = await tx.events.upsert(draft("salon"), NOW)
        url = f"{bot.base_url}/events.ics"
        async with aiohttp.ClientSession() as session:
            _, first, etag = await fetch(session, url)
            async with bot.db.transaction() as tx:
                await tx.events.set_status(event.id, "cancelled", NOW)
            now[0] = NOW + timedelta(seconds=events_ics.RENDERED_SECONDS - 1)
            assert (await fetch(session, url, etag))[0] == 304  # the minute's rendering still answers
            assert renders.count == 1
            now[0] = NOW + timedelta(seconds=events_ics.RENDERED_SECONDS)
            status, second, new_etag = await fetch(session, url, etag)
            assert renders.count == 2
            assert status == 200 and new_etag != etag
            assert b"STATUS:CANCELLED" in second and b"STATUS:CANCELLED" not in first
            # Rendered again with nothing changed: the same ETag, so calendars still get 304.
            now[0] += timedelta(seconds=events_ics.RENDERED_SECONDS)
            assert (await fetch(session, url, new_etag))[0] == 304
            assert renders.count == 3
            # A clock set back does not keep a rendering from the "future" until it catches up.
            now[0] = NOW
            assert (await fetch(session, url, new_etag))[0] == 304
            assert renders.count == 4
