"""Event reminders: rows in the reminders table are the truth, APScheduler only rings the bell.

Each event not cancelled gets one reminder row per offset before its start (the event's own
`reminder_offsets`, else `[events] reminder_offsets`); rows are created while their time is still
ahead, so an event imported the day before gets only the reminders still to come.

At start every pending row gets an alarm (a one-off APScheduler job, no misfire limit, coalesced),
and a sweeper runs every minute; both do the same thing: look in the database for what is due. A due
reminder is claimed with a conditional UPDATE (pending → done) in the transaction that writes its
messages to the outbox, so two ticks, two processes or a restart never send it twice, and a crash
before the commit sends it after the restart.

Grace (documented in docs/events.md): a reminder found overdue (its time passed while the bot was
down, or an alarm rang late) is still sent as long as its event has not started; once the event has
started it is marked `missed` and nothing goes out. When several reminders of one event are overdue
together, only the latest is sent and the earlier ones are marked missed: one reminder, not three.

Fan-out: the same text goes to every registrant (nothing personal in it), as LINE multicasts of at
most 500 recipients, one outbox row per batch, each with its own retry key. Before queuing a send
that needs more messages than remain of the month's quota, the ops channel is told with the numbers.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from bot import event_digest
from bot.citizen import desk_context, queue_notify
from bot.clock import Clock
from bot.config import Settings
from bot.line.api import MULTICAST_MAX_RECIPIENTS, LineApi, Quota
from bot.line.sender import MULTICAST
from bot.logs import fields
from bot.ops_alerts import OpsAlerts
from bot.scheduler import Scheduler
from flows.events import fill_freed_seats
from flows.reminders import Notice, event_notice
from flows.texts import Texts
from storage import Database, Repositories
from storage.outbox_rows import LineMulticast, MulticastPurpose
from storage.reminders import EVENT_REMINDER, EventForReminders, Reminder

log = logging.getLogger("madoguchi.reminders")

SWEEP_SECONDS = 60.0
# Who is told of a cancellation or a new time: everyone who signed up, waitlisted included.
SIGNED_UP = ("registered", "waitlisted")


def event_offsets(event: EventForReminders, settings: Settings) -> list[timedelta]:
    """The event's own offsets (a JSON list of minutes; [] = none) or else the configured ones."""
    if event.offsets is None:
        return settings.events.reminder_deltas
    try:
        minutes = json.loads(event.offsets) if isinstance(event.offsets, str) else event.offsets
        return sorted({timedelta(minutes=int(m)) for m in minutes if int(m) > 0}, reverse=True)
    except (TypeError, ValueError):
        log.warning("reminders.bad_offsets", extra=fields(event=event.id))
        return settings.events.reminder_deltas


def batches(recipients: Sequence[str], size: int = MULTICAST_MAX_RECIPIENTS) -> list[list[str]]:
    return [list(recipients[i : i + size]) for i in range(0, len(recipients), size)]


async def queue_multicast(
    tx: Repositories,
    recipients: Sequence[str],
    messages: list[dict[str, Any]],
    now: datetime,
    key: str,
    purpose: MulticastPurpose = "",
) -> int:
    """One outbox row per batch of ≤500 recipients (each with its own retry key); returns the rows.

    `purpose` names the send in a quota warning."""
    parts = batches(recipients)
    for number, batch in enumerate(parts):
        await tx.outbox.add(
            LineMulticast(batch, messages, purpose),
            MULTICAST,
            now,
            order_key=f"line:{MULTICAST}:{key}:{number}",
        )
    return len(parts)


async def _notice(
    tx: Repositories, event_id: int, notice: Notice, settings: Settings, texts: Texts
) -> dict[str, str] | None:
    event = await tx.events.get(event_id)
    if event is None:
        return None
    return event_notice(
        texts,
        notice,
        title=event.title,
        starts_at=event.starts_at,
        venue=event.venue,
        online_url=str(getattr(event, "online_url", "") or ""),
        tz=settings.center.tz,
    )


async def _reminder_sends(
    tx: Repositories, event_id: int, reminder_id: int, settings: Settings, texts: Texts
) -> list[tuple[str, list[str], dict[str, str]]]:
    """(retry key, recipients, message) of each multicast a due reminder makes: one for the event,
    and at a consultation session one per booked slot, whose text names the slot's own time."""
    everyone = await tx.reminders.recipients(event_id)
    event = await tx.events.get(event_id)
    if event is None or not everyone:
        return []
    tz, following = settings.center.tz, set(everyone)
    sends: list[tuple[str, list[str], dict[str, str]]] = []
    in_slots: set[str] = set()
    for slot, holders in await tx.slots.recipients(event_id):
        holders = [h for h in holders if h in following]
        in_slots.update(holders)
        if holders:
            message = event_notice(
                texts, "reminder", title=event.title, starts_at=slot.starts_at,
                venue=event.venue, online_url=event.online_url, tz=tz,
            )  # fmt: skip
            sends.append((f"reminder:{reminder_id}:slot:{slot.id}", holders, message))
    rest = [r for r in everyone if r not in in_slots]
    whole = await _notice(tx, event_id, "reminder", settings, texts)
    if rest and whole is not None:
        sends.insert(0, (f"reminder:{reminder_id}", rest, whole))
    return sends


async def cancel_event(
    tx: Repositories, event_id: int, *, settings: Settings, texts: Texts, now: datetime
) -> int | None:
    """Cancel an event: its status becomes cancelled, its pending reminders are cancelled (none is
    sent), and everyone who signed up is told, through the outbox, in the caller's transaction.

    Call this instead of setting the status yourself: it tells registrants only when the event was not
    cancelled already (a second call changes and sends nothing, and returns None). Returns how many
    citizens are told.
    """
    event = await tx.reminders.event(event_id)
    if event is None:
        raise LookupError(f"no event {event_id}")
    cancelled = await tx.reminders.cancel_for_event(event_id)
    if event.status == "cancelled":
        return None
    message = await _notice(tx, event_id, "cancelled", settings, texts)
    await tx.events.set_status(event_id, "cancelled", now)
    recipients = await tx.reminders.recipients(event_id, SIGNED_UP)
    if message is not None and recipients:
        key = f"event:{event_id}:cancelled:{now.timestamp()}"
        await queue_multicast(tx, recipients, [message], now, key, "cancelled")
    log.info(
        "reminders.event_cancelled",
        extra=fields(event=event_id, reminders=cancelled, recipients=len(recipients)),
    )
    return len(recipients)


async def reschedule_event(
    tx: Repositories, event_id: int, *, settings: Settings, texts: Texts, now: datetime, notify: bool = True
) -> int:
    """The event's start time was changed (already saved): its reminders fall due their offsets before
    the new start (again pending if that is still ahead, cancelled if it has passed), missing ones are
    created, and (with `notify`) everyone who signed up is told the new time. Returns how many are told.
    """
    event = await tx.reminders.event(event_id)
    if event is None:
        raise LookupError(f"no event {event_id}")
    if event.status == "cancelled":
        await tx.reminders.cancel_for_event(event_id)
        return 0
    pending = await tx.reminders.reschedule_for_event(event_id, event.starts_at, now)
    pending -= await tx.reminders.cancel_other_offsets(event_id, event_offsets(event, settings))
    pending += await tx.reminders.ensure_for_event(
        event_id, event.starts_at, event_offsets(event, settings), now
    )
    recipients: list[str] = []
    if notify:
        message = await _notice(tx, event_id, "rescheduled", settings, texts)
        recipients = await tx.reminders.recipients(event_id, SIGNED_UP)
        if message is not None and recipients and event.starts_at > now:
            key = f"event:{event_id}:rescheduled:{now.timestamp()}"
            await queue_multicast(tx, recipients, [message], now, key, "rescheduled")
        else:
            recipients = []
    log.info(
        "reminders.event_rescheduled",
        extra=fields(event=event_id, pending=pending, recipients=len(recipients)),
    )
    return len(recipients)


class ReminderService:
    """Runs the reminders of `serve`: alarms for pending rows, the sweeper, the claims and the fan-out."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        texts: Texts,
        clock: Clock,
        *,
        line: LineApi | None = None,
        alerts: OpsAlerts | None = None,
        scheduler: Scheduler | None = None,
        on_queued: Callable[[], None] | None = None,
    ) -> None:
        self._db = db
        self._settings = settings
        self._texts = texts
        self._clock = clock
        self._line = line
        self._alerts = alerts
        self._scheduler = scheduler
        self._on_queued = on_queued
        self._lock = asyncio.Lock()
        # reminder id -> the due time its alarm is set for
        self._armed: dict[int, datetime] = {}
        self._ran = False
        self._stopping = False

    def start(self) -> None:
        """Register the sweeper and a first sweep right away (it arms every pending row)."""
        if self._scheduler is None:
            return
        self._scheduler.every(SWEEP_SECONDS, self.run, "reminder-sweep")
        self._scheduler.at(self._clock(), self.run, "reminder-catch-up")

    async def stop(self) -> None:
        """No sweep starts from here on; one under way finishes (before the database and LINE close)."""
        self._stopping = True
        async with self._lock:
            pass

    async def cancel_event(self, tx: Repositories, event_id: int) -> int | None:
        """`cancel_event` with this service's settings, texts and clock."""
        return await cancel_event(tx, event_id, settings=self._settings, texts=self._texts, now=self._clock())

    async def reschedule_event(self, tx: Repositories, event_id: int, notify: bool = True) -> int:
        """`reschedule_event` with this service's settings, texts and clock (the sweeper re-arms)."""
        return await reschedule_event(
            tx, event_id, settings=self._settings, texts=self._texts, now=self._clock(), notify=notify
        )

    async def run(self) -> int:
        """Create missing rows, send or settle what is due, arm what is pending. Returns multicast rows queued."""
        async with self._lock:
            if self._stopping:
                return 0
            now = self._clock()
            await self._ensure(now)
            queued = 0
            due = [
                r for r in await self._db.read.reminders.pending(due_before=now) if r.kind == EVENT_REMINDER
            ]
            by_event: dict[int, list[Reminder]] = {}
            for reminder in due:
                if reminder.event_id is not None:
                    by_event.setdefault(reminder.event_id, []).append(reminder)
            for event_id, reminders in by_event.items():
                queued += await self._settle_event(event_id, reminders, now)
            queued += await self._fill_freed_seats(now)
            queued += await event_digest.sweep(self._db, self._settings, self._texts, now)
            if queued and self._on_queued is not None:
                self._on_queued()
            await self._arm()
            if not self._ran:
                self._ran = True
                log.info(
                    "reminders.started", extra=fields(armed=len(self._armed), due=len(due), batches=queued)
                )
            return queued

    async def _fill_freed_seats(self, now: datetime) -> int:
        """Seats freed by staff (a larger capacity) go to the first on each waitlist, who are told; a
        citizen's own cancellation does this at once, this catches every other way a seat frees up."""
        ids = [event.id for event in await self._db.read.reminders.events_ahead(now)]
        if not ids:
            return 0
        async with self._db.transaction() as tx:
            notify = await fill_freed_seats(tx, ids, desk_context(self._settings, self._texts, now))
            await queue_notify(tx, notify, now)
        return len(notify)

    async def _ensure(self, now: datetime) -> None:
        events = await self._db.read.reminders.events_ahead(now)
        if not events:
            return
        async with self._db.transaction() as tx:
            for event in events:
                # A start time changed without `reschedule_event`: pending rows follow it, silently.
                await tx.reminders.reschedule_for_event(event.id, event.starts_at, now, rearm_settled=False)
                offsets = event_offsets(event, self._settings)
                await tx.reminders.cancel_other_offsets(event.id, offsets)
                await tx.reminders.ensure_for_event(event.id, event.starts_at, offsets, now)

    async def _settle_event(self, event_id: int, reminders: list[Reminder], now: datetime) -> int:
        """Settle an event's due reminders: the latest sent (or missed, or cancelled), earlier ones missed."""
        *earlier, latest = sorted(reminders, key=lambda r: (r.due_at, r.id))
        # The quota is asked before the transaction (a network call never holds the writer).
        expected = await self._db.read.reminders.recipients(event_id)
        quota = await self._quota() if expected else None
        queued = 0
        async with self._db.transaction() as tx:
            for reminder in earlier:
                await tx.reminders.settle(reminder.id, "missed", now)
            event = await tx.reminders.event(event_id)
            if event is None or event.status == "cancelled":
                outcome = "cancelled" if await tx.reminders.settle(latest.id, "cancelled", now) else "taken"
            elif now >= event.starts_at:
                outcome = "missed" if await tx.reminders.settle(latest.id, "missed", now) else "taken"
            elif not await tx.reminders.settle(latest.id, "done", now):
                outcome = "taken"  # claimed by another tick or process
            else:
                outcome = "sent"
                # The claim and the messages commit together: both or neither.
                sends = await _reminder_sends(tx, event_id, latest.id, self._settings, self._texts)
                for key, recipients, message in sends:
                    queued += await queue_multicast(tx, recipients, [message], now, key, "reminder")
                if sends:
                    total = sum(len(recipients) for _, recipients, _ in sends)
                    await self._warn_if_short(tx, quota, total, 1, "reminder")
        log.info(
            "reminders.settled",
            extra=fields(
                reminder=latest.id,
                event=event_id,
                outcome=outcome,
                missed_earlier=len(earlier),
                batches=queued,
            ),
        )
        return queued

    async def _quota(self) -> Quota | None:
        if self._line is None:
            return None
        try:
            return await self._line.quota()
        except Exception as exc:  # the send goes ahead; LINE itself refuses what is over the limit
            log.warning("reminders.quota_unavailable", extra=fields(error=type(exc).__name__))
            return None

    async def _warn_if_short(
        self, tx: Repositories, quota: Quota | None, recipients: int, messages: int, purpose: MulticastPurpose
    ) -> None:
        """Tell the ops channel, with the numbers, when this send needs more than the month has left."""
        if quota is None or quota.limit is None:
            return
        needed = recipients * messages
        remaining = max(0, quota.limit - quota.used)
        if needed <= remaining:
            return
        log.warning(
            "reminders.quota_low",
            extra=fields(needed=needed, remaining=remaining, limit=quota.limit, used=quota.used),
        )
        if self._alerts is not None:
            await self._alerts.note(
                tx,
                "quota_low",
                purpose=self._purpose_text(purpose),
                recipients=recipients,
                messages=messages,
                needed=needed,
                limit=quota.limit,
                used=quota.used,
                remaining=remaining,
            )

    async def quota_short(
        self, purpose: MulticastPurpose, recipients: int, messages: int, quota: Quota
    ) -> None:
        """The LINE sender's warning before one multicast row (a notice, or a batch sent again)."""
        async with self._db.transaction() as tx:
            await self._warn_if_short(tx, quota, recipients, messages, purpose)
        if self._on_queued is not None:
            self._on_queued()

    def _purpose_text(self, purpose: MulticastPurpose) -> str:
        return self._texts.get(f"reminders.purpose_{purpose or 'other'}")

    async def _arm(self) -> None:
        """An alarm for every pending row (re-set when its time changed; dropped when it is settled)."""
        if self._scheduler is None:
            return
        pending = {
            r.id: r.due_at for r in await self._db.read.reminders.pending() if r.kind == EVENT_REMINDER
        }
        for reminder_id in set(self._armed) - set(pending):
            self._scheduler.cancel(f"reminder-{reminder_id}")
            del self._armed[reminder_id]
        for reminder_id, due in pending.items():
            if self._armed.get(reminder_id) != due:
                self._scheduler.at(due, self.run, f"reminder-{reminder_id}")
                self._armed[reminder_id] = due
