"""madoguchi_reminder_lag_seconds: how overdue the earliest pending reminder is, read at each scrape
from one row by the (status, due_at) index, never from every overdue reminder (review 43 D6: a backlog
of reminders, one per registrant, is exactly when someone scrapes)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import datetime, timedelta

from bot.metrics import Metrics
from storage import Database
from storage.events import EventDraft
from tests.conftest import NOW

LAG = "madoguchi_reminder_lag_seconds"


@contextmanager
def reminder_reads(db: Database) -> Iterator[list[str]]:
    """The statements on `reminders` run on the reader connection (expanded by SQLite: the SQL as run)."""
    seen: list[str] = []
    conn = db._reader._conn
    conn.set_trace_callback(lambda sql: seen.append(sql) if "reminders" in sql else None)
    try:
        yield seen
    finally:
        conn.set_trace_callback(None)


async def scrape(db: Database, now: datetime) -> tuple[float | None, list[str]]:
    metrics = Metrics(db, lambda: now, lambda moment: moment)
    with reminder_reads(db) as seen:
        await metrics.refresh()
    return metrics.registry.get_sample_value(LAG), seen


async def test_the_lag_is_the_earliest_pending_reminders_read_from_one_row_by_index(db: Database) -> None:
    assert (await scrape(db, NOW))[0] == 0  # no reminders at all
    async with db.transaction() as tx:
        event = await tx.events.upsert(
            EventDraft(uid="salon", kind="salon", title="サロン", starts_at=NOW + timedelta(days=2)), NOW
        )
        later = await tx.reminders.add("event", NOW + timedelta(hours=1), NOW, event_id=event.id)
    assert (await scrape(db, NOW))[0] == 0  # pending, not yet due
    async with db.transaction() as tx:
        # A backlog: forty overdue, the earliest 40 minutes late; older ones settled do not count.
        for minutes in range(1, 41):
            await tx.reminders.add("event", NOW - timedelta(minutes=minutes), NOW, event_id=event.id)
        done = await tx.reminders.add("event", NOW - timedelta(days=3), NOW, event_id=event.id)
        assert await tx.reminders.claim(done.id, NOW)
        cancelled = await tx.reminders.add("event", NOW - timedelta(days=4), NOW, event_id=event.id)
        assert await tx.reminders.cancel(cancelled.id)
    lag, statements = await scrape(db, NOW)
    assert lag == 40 * 60
    assert (await scrape(db, NOW + timedelta(minutes=5)))[0] == 45 * 60

    assert statements, "the scrape read no reminder"
    with closing(sqlite3.connect(f"{db.path.resolve().as_uri()}?mode=ro", uri=True)) as conn:
        for sql in statements:
            fetched = conn.execute(sql).fetchall()
            assert len(fetched) <= 1, f"{len(fetched)} rows fetched to read one figure: {sql}"
            plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
            assert any("INDEX reminders_due" in step for step in plan), plan
            assert not any(step.startswith("SCAN") or "TEMP B-TREE" in step for step in plan), plan

    async with db.transaction() as tx:  # all overdue ones sent: only the one due later is left
        for reminder in await tx.reminders.pending(due_before=NOW + timedelta(minutes=5)):
            assert await tx.reminders.claim(reminder.id, NOW)
    assert (await scrape(db, NOW + timedelta(minutes=5)))[0] == 0
    assert (await scrape(db, later.due_at + timedelta(seconds=30)))[0] == 30
