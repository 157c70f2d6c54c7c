"""Event reminders and their fan-out, in one process with an injected clock (nobody sleeps for a reminder)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import aiosqlite
import pytest
from linebot.v3.messaging import ApiException

from bot.config import EventsSettings, Settings
from bot.delivery import RetryPolicy
from bot.line.api import LineApi
from bot.line.sender import LineSender, QuotaShort
from bot.ops_alerts import OpsAlerts
from bot.outbox_worker import OutboxWorker
from bot.reminders import ReminderService, cancel_event, queue_multicast, reschedule_event
from bot.sandbox.fake_line import FakeLine
from flows.texts import Texts
from storage import Database
from storage.events import EventDraft
from storage.migrate import apply_migrations, available_migrations
from tests.conftest import NOW
from tests.harness import LINE_TOKEN, settings_for, wait_for

MULTICAST = "/v2/bot/message/multicast"
# 2026-12-03 19:00 in Tokyo, a Thursday: the reminders fall due 3 days, 1 day and 2 hours before.
STARTS = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
TITLE = "ミズベサロン 12月"
VENUE = "横浜市市民協働推進センター スペースA"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def make_event(db: Database, registrants: int, starts_at: datetime = STARTS) -> int:
    async with db.transaction() as tx:
        event = await tx.events.upsert(
            EventDraft(uid="salon-1203", kind="salon", title=TITLE, starts_at=starts_at, venue=VENUE), NOW
        )
        for n in range(registrants):
            user = await tx.users.ensure(f"U{n:032x}", NOW)
            await tx.users.set_display_name(user.id, f"市民 太郎{n}", NOW)
            await tx.registrations.put(event.id, user.id, "registered", 1, NOW)
    return event.id


def service(db: Database, settings: Settings, clock: Clock, api: LineApi | None = None) -> ReminderService:
    texts = Texts.load()
    alerts = OpsAlerts(db, settings, texts, clock, on_queued=lambda: None)
    return ReminderService(db, settings, texts, clock, line=api, alerts=alerts)


async def deliver(
    db: Database, settings: Settings, clock: Clock, on_quota_short: QuotaShort | None = None
) -> None:
    """Run the outbox against the fake LINE until nothing LINE-bound is pending."""
    async with LineApi(settings.line) as api:
        sender = LineSender(api, db, clock, on_quota_short=on_quota_short)
        worker = OutboxWorker(db, clock, {"line": sender}, RetryPolicy(max_attempts=3, base_delay=0.01))
        worker.start()
        try:

            async def drained() -> bool:
                return not await db.read.outbox.due(clock() + timedelta(days=1), ["line"])

            await wait_for(drained)
        finally:
            await worker.stop()


@pytest.fixture
def settings(tmp_path: Path, line: FakeLine) -> Settings:
    return settings_for(tmp_path, line.base_url)


async def statuses(db: Database, event_id: int) -> list[str]:
    return [r.status for r in await db.read.reminders.for_event(event_id)]


async def test_default_offsets_and_their_validation() -> None:
    assert [d.total_seconds() for d in EventsSettings().reminder_deltas] == [3 * 86400, 86400, 7200]
    for bad in (["3x"], ["1d", "24h"], ["61d"], ["1m", "2m", "3m", "4m", "5m", "6m"]):
        with pytest.raises(ValueError):
            EventsSettings(reminder_offsets=bad)


async def test_1201_registrants_get_one_reminder_in_exactly_3_multicasts(
    db: Database, settings: Settings, line: FakeLine
) -> None:
    line.quota = 100_000
    event_id = await make_event(db, 1201)
    clock = Clock(NOW)
    reminders = service(db, settings, clock)
    assert await reminders.run() == 0
    assert await statuses(db, event_id) == ["pending", "pending", "pending"]

    clock.now = STARTS - timedelta(days=1)  # the 3-day reminder is long gone: only the 1-day one goes
    assert await reminders.run() == 3
    assert await statuses(db, event_id) == ["missed", "done", "pending"]
    assert await reminders.run() == 0  # claimed: a second tick sends nothing
    await deliver(db, settings, clock)

    requests = line.find_requests(path=MULTICAST)
    assert len(requests) == 3
    bodies = [r.json for r in requests if isinstance(r.json, dict)]
    assert sorted(len(b["to"]) for b in bodies) == [201, 500, 500]
    assert len({r.headers["x-line-retry-key"] for r in requests}) == 3
    assert not line.find_requests(path="/v2/bot/message/push")
    everyone = [u for b in bodies for u in b["to"]]
    assert len(set(everyone)) == 1201


async def test_the_reminder_names_event_time_and_place_and_nothing_personal(
    db: Database, settings: Settings, line: FakeLine
) -> None:
    event_id = await make_event(db, 3)
    clock = Clock(NOW)
    reminders = service(db, settings, clock)
    await reminders.run()
    clock.now = STARTS - timedelta(hours=2)
    assert await reminders.run() == 1
    await deliver(db, settings, clock)
    texts = line.sent_texts()
    assert len(texts) == 1  # one multicast, the same text for all three
    assert all(line.sent_texts(f"U{n:032x}") == texts for n in range(3))
    text = texts[0]
    assert TITLE in text and "12月3日(木) 19:00" in text and VENUE in text
    assert "市民" not in text.replace("市民協働推進センター", "")  # no display name
    assert "U0000" not in text
    async with db.transaction() as tx:
        assert await tx.reminders.recipients(event_id) == [f"U{n:032x}" for n in range(3)]


async def test_a_cancelled_event_sends_no_reminder_and_tells_registrants(
    db: Database, settings: Settings, line: FakeLine
) -> None:
    event_id = await make_event(db, 2)
    clock = Clock(NOW)
    reminders = service(db, settings, clock)
    await reminders.run()
    async with db.transaction() as tx:
        told = await cancel_event(tx, event_id, settings=settings, texts=Texts.load(), now=NOW)
        assert told == 2
        # Cancelling again changes nothing and tells nobody twice.
        assert await cancel_event(tx, event_id, settings=settings, texts=Texts.load(), now=NOW) is None
    assert await statuses(db, event_id) == ["cancelled", "cancelled", "cancelled"]
    for moment in (STARTS - timedelta(days=3), STARTS - timedelta(days=1), STARTS - timedelta(minutes=5)):
        clock.now = moment
        assert await reminders.run() == 0
    await deliver(db, settings, clock)
    texts = line.sent_texts()
    assert len(texts) == 1 and "中止" in texts[0] and "リマインド" not in texts[0]
    assert all(line.sent_texts(f"U{n:032x}") == texts for n in range(2))
    assert len(line.find_requests(path=MULTICAST)) == 1


async def test_an_event_whose_status_was_set_to_cancelled_directly_sends_nothing(
    db: Database, settings: Settings, line: FakeLine
) -> None:
    event_id = await make_event(db, 2)
    clock = Clock(NOW)
    reminders = service(db, settings, clock)
    await reminders.run()
    async with db.transaction() as tx:
        await tx.events.set_status(event_id, "cancelled", NOW)
    clock.now = STARTS - timedelta(hours=1)
    assert await reminders.run() == 0
    assert await statuses(db, event_id) == ["missed", "missed", "cancelled"]
    assert line.find_requests(path=MULTICAST) == []


async def test_overdue_after_the_start_is_missed_not_sent(
    db: Database, settings: Settings, line: FakeLine
) -> None:
    event_id = await make_event(db, 2)
    clock = Clock(NOW)
    reminders = service(db, settings, clock)
    await reminders.run()
    clock.now = STARTS + timedelta(minutes=1)  # the bot was down through every reminder and the start
    assert await reminders.run() == 0
    assert await statuses(db, event_id) == ["missed", "missed", "missed"]


async def test_a_reminder_read_as_due_then_moved_later_by_staff_is_not_sent_early(
    db: Database, settings: Settings
) -> None:
    """The service reads the due reminders, asks LINE for the quota (the network), then claims them in
    a transaction. Staff moving the event a week later meanwhile: the claim must see the new due time,
    or the 3-day reminder goes out 10 days before the new start and never 3 days before it."""
    event_id = await make_event(db, 2)
    clock = Clock(NOW)
    reminders = service(db, settings, clock)
    await reminders.run()
    clock.now = STARTS - timedelta(days=2, hours=23)  # the 3-day reminder is due
    read = await db.read.reminders.pending(due_before=clock.now)  # what the service read
    assert len(read) == 1
    later = STARTS + timedelta(days=7)
    async with db.transaction() as tx:  # staff's change commits while the service waits for the quota
        await tx.events.upsert(
            EventDraft(uid="salon-1203", kind="salon", title=TITLE, starts_at=later, venue=VENUE), clock.now
        )
        await reschedule_event(
            tx, event_id, settings=settings, texts=Texts.load(), now=clock.now, notify=False
        )
    assert await reminders._settle_event(event_id, read, clock.now) == 0
    row = await db.read.reminders.get(read[0].id)
    assert row is not None and row.status == "pending" and row.due_at == later - timedelta(days=3)


async def test_a_changed_start_time_reschedules_and_tells_registrants(
    db: Database, settings: Settings, line: FakeLine
) -> None:
    event_id = await make_event(db, 2)
    clock = Clock(NOW)
    reminders = service(db, settings, clock)
    await reminders.run()
    clock.now = STARTS - timedelta(days=2)
    assert await reminders.run() == 1  # the 3-day reminder
    later = STARTS + timedelta(days=7)
    async with db.transaction() as tx:
        await tx.events.upsert(
            EventDraft(uid="salon-1203", kind="salon", title=TITLE, starts_at=later, venue=VENUE), clock.now
        )
        told = await reschedule_event(tx, event_id, settings=settings, texts=Texts.load(), now=clock.now)
    assert told == 2
    rows = await db.read.reminders.for_event(event_id)
    assert [r.status for r in rows] == ["pending", "pending", "pending"]  # the 3-day one reminds again
    assert [later - r.due_at for r in rows] == [timedelta(days=3), timedelta(days=1), timedelta(hours=2)]
    await deliver(db, settings, clock)
    assert any("日時変更" in t and "12月10日(木) 19:00" in t for t in line.sent_texts())


async def test_a_start_time_changed_silently_moves_pending_reminders(
    db: Database, settings: Settings, line: FakeLine
) -> None:
    event_id = await make_event(db, 1)
    clock = Clock(NOW)
    reminders = service(db, settings, clock)
    await reminders.run()
    later = STARTS + timedelta(days=1)
    async with db.transaction() as tx:
        await tx.events.upsert(
            EventDraft(uid="salon-1203", kind="salon", title=TITLE, starts_at=later, venue=VENUE), NOW
        )
    await reminders.run()
    assert [later - r.due_at for r in await db.read.reminders.for_event(event_id)] == [
        timedelta(days=3),
        timedelta(days=1),
        timedelta(hours=2),
    ]


async def test_two_sweepers_at_once_send_one_reminder(db: Database, settings: Settings) -> None:
    await make_event(db, 10)
    clock = Clock(NOW)
    await service(db, settings, clock).run()
    clock.now = STARTS - timedelta(hours=1)
    results = await asyncio.gather(*(service(db, settings, clock).run() for _ in range(4)))
    assert sorted(results) == [0, 0, 0, 1]


async def test_staff_are_warned_before_a_send_beyond_the_monthly_quota(
    db: Database, settings: Settings, line: FakeLine
) -> None:
    line.quota = 1000
    line.usage = 300
    await make_event(db, 701)
    clock = Clock(NOW)
    async with LineApi(settings.line) as api:
        reminders = service(db, settings, clock, api)
        await reminders.run()
        clock.now = STARTS - timedelta(hours=1)
        assert await reminders.run() == 2
    alerts = await db.read.ops_alerts.since(NOW)
    assert [a.cause for a in alerts] == ["quota_low"]
    detail = alerts[0].detail
    assert all(figure in detail for figure in ("701", "1000", "300", "700"))


async def test_enough_quota_warns_nobody(db: Database, settings: Settings, line: FakeLine) -> None:
    line.quota = 1000
    await make_event(db, 20)
    clock = Clock(NOW)
    async with LineApi(settings.line) as api:
        reminders = service(db, settings, clock, api)
        await reminders.run()
        clock.now = STARTS - timedelta(hours=1)
        assert await reminders.run() == 1
    assert await db.read.ops_alerts.since(NOW) == []


async def test_a_refused_multicast_is_sent_again_member_by_member(
    db: Database, settings: Settings, line: FakeLine
) -> None:
    good = [f"U{n:032x}" for n in range(3)]
    async with db.transaction() as tx:
        # One recipient LINE refuses (an empty id): the whole batch is refused with a 400.
        await queue_multicast(tx, [good[0], "", *good[1:]], [{"type": "text", "text": "お知らせ"}], NOW, "t")
    clock = Clock(NOW)
    await deliver(db, settings, clock)
    assert [r.status for r in line.find_requests(path=MULTICAST)] == [400]
    pushes = line.find_requests(path="/v2/bot/message/push")
    assert sorted(r.status for r in pushes) == [200, 200, 200, 400]
    assert sorted(m.to for m in line.sent_messages() if isinstance(m.to, str)) == good
    assert await db.read.outbox.count("failed") == 1


async def test_the_migration_keeps_existing_reminders(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    async with aiosqlite.connect(path) as conn:
        await apply_migrations(conn, [m for m in available_migrations() if m.version < 13])
        await conn.execute(
            "INSERT INTO reminders (kind, due_at, status, created_at) VALUES ('other', ?, 'done', ?)",
            ("2026-11-30T01:00:00.000000Z", "2026-11-29T01:00:00.000000Z"),
        )
        await conn.commit()
    db = await Database.open(path)
    try:
        rows = await db.read.reminders.pending() + [r for r in [await db.read.reminders.get(1)] if r]
        assert [(r.kind, r.status, r.offset_seconds) for r in rows] == [("other", "done", None)]
        async with db.transaction() as tx:
            reminder = await tx.reminders.add("other", NOW, NOW)
            assert await tx.reminders.settle(reminder.id, "missed", NOW)
    finally:
        await db.close()


async def test_offsets_taken_off_an_event_cancel_its_pending_reminders(
    db: Database, settings: Settings
) -> None:
    event_id = await make_event(db, 1)
    clock = Clock(NOW)
    reminders = service(db, settings, clock)
    await reminders.run()
    async with db.transaction() as tx:
        await tx.events.upsert(
            EventDraft(
                uid="salon-1203",
                kind="salon",
                title=TITLE,
                starts_at=STARTS,
                venue=VENUE,
                reminder_offsets=(60,),
            ),
            NOW,
        )
    await reminders.run()
    rows = await db.read.reminders.for_event(event_id)
    assert [(r.offset_seconds, r.status) for r in rows] == [
        (3 * 86400, "cancelled"),
        (86400, "cancelled"),
        (7200, "cancelled"),
        (3600, "pending"),
    ]


async def test_the_fake_line_is_as_strict_as_line_about_multicasts(
    settings: Settings, line: FakeLine
) -> None:
    line.quota = 10_000
    message = [{"type": "text", "text": "お知らせ"}]
    key = "123e4567-e89b-12d3-a456-426614174000"
    # The SDK's model stops 501 recipients before they leave; the fake refuses them too, as LINE does.
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{line.base_url}/v2/bot/message/multicast",
            json={"to": [f"U{n:032x}" for n in range(501)], "messages": message},
            headers={"Authorization": f"Bearer {LINE_TOKEN}"},
        ) as response,
    ):
        assert response.status == 400
    async with LineApi(settings.line) as api:
        with pytest.raises(ValueError):
            await api.multicast([f"U{n:032x}" for n in range(501)], message, key)
        await api.multicast([f"U{n:032x}" for n in range(500)], message, key)
        with pytest.raises(ApiException) as again:
            await api.multicast([f"U{n:032x}" for n in range(500)], message, key)
        assert again.value.status == 409
    assert line.usage == 500  # charged once


async def test_a_stopped_service_sends_nothing_more(db: Database, settings: Settings) -> None:
    event_id = await make_event(db, 2)
    clock = Clock(NOW)
    reminders = service(db, settings, clock)
    await reminders.run()
    await reminders.stop()
    clock.now = STARTS - timedelta(hours=1)
    assert await reminders.run() == 0
    assert await statuses(db, event_id) == ["pending", "pending", "pending"]  # left for the next start


async def test_staff_are_warned_before_a_cancellation_notice_beyond_the_quota(
    db: Database, settings: Settings, line: FakeLine
) -> None:
    line.quota = 1000
    line.usage = 900
    event_id = await make_event(db, 150)
    clock = Clock(NOW)
    reminders = service(db, settings, clock)
    async with db.transaction() as tx:
        assert await reminders.cancel_event(tx, event_id) == 150
    await deliver(db, settings, clock, on_quota_short=reminders.quota_short)
    alerts = await db.read.ops_alerts.since(NOW)
    assert [a.cause for a in alerts] == ["quota_low"]
    assert all(figure in alerts[0].detail for figure in ("中止", "150", "1000", "900", "100"))
    # The warning comes before the send; LINE then refuses what is over the limit, as it does.
    assert [r.status for r in line.find_requests(path=MULTICAST)] == [429]


async def test_seats_freed_by_staff_go_to_the_first_waiting_who_are_told(
    db: Database, settings: Settings, line: FakeLine
) -> None:
    """A larger capacity (staff edited the event) fills from the waitlist on the next sweep."""
    async with db.transaction() as tx:
        draft = EventDraft(
            uid="salon-x", kind="salon", title=TITLE, starts_at=STARTS, venue=VENUE, capacity=1
        )
        event = await tx.events.upsert(draft, NOW)
        seated = await tx.users.ensure("U_SEATED", NOW)
        waiting = await tx.users.ensure("U_WAITING", NOW)
        await tx.registrations.register(event.id, seated.id, NOW)
        await tx.registrations.register(event.id, waiting.id, NOW)
    reminders = service(db, settings, Clock(NOW))
    await reminders.run()
    before = await db.read.registrations.of(event.id, waiting.id)
    assert before is not None and before.status == "waitlisted"
    async with db.transaction() as tx:
        await tx.events.upsert(dataclasses.replace(draft, capacity=2), NOW)
    await reminders.run()
    registration = await db.read.registrations.of(event.id, waiting.id)
    assert registration is not None and registration.status == "registered"
    [told] = await db.read.outbox.in_order("line:U_WAITING")
    assert "お席をご用意できました" in json.dumps(told.body, ensure_ascii=False)
    await reminders.run()  # nothing more: one promotion, one message
    assert len(await db.read.outbox.in_order("line:U_WAITING")) == 1
