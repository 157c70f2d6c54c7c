"""Announcing a new event to the citizens who chose its kind (the center's information programme).

Staff first see whom it reaches, what it costs of LINE's monthly message quota and what the month has
left (`plan`), then confirm (`announce`). In one transaction the event is claimed (a row in the
`announcements` table, so an event is announced at most once, whatever double clicks, retried requests
or two staff confirming together) and the announcement is queued in batches of at most 500 recipients
(`EventAnnouncement` rows, sent as LINE multicasts: the LINE sender checks the quota again before each
batch and warns the ops channel). Internal, cancelled, closed and past events cannot be announced.

A batch is drawn when it is sent (`draw_announcement`), not when it is queued, since sending can wait
(LINE down, 429/5xx back-off, a large fan-out, `outbox retry`): whoever sent 配信停止, turned the kind
off, unfollowed or was deleted meanwhile is left out, the text tells the event as it is then, and an
event that can no longer be announced (cancelled, made internal, closed, started) is not.
Used by the Slack confirm modal (bot/slack/announce.py) and `madoguchi events announce`.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import aiohttp
from linebot.v3.messaging import ApiException

from bot.clock import utc_now
from bot.config import Settings
from bot.event_import import kind_label
from bot.line.api import LineApi, Quota
from bot.line.render import render
from bot.line.sender import MULTICAST, announcement_order_key
from bot.line_commands import platform_error
from bot.logs import fields
from bot.reminders import batches
from flows.announcements import announcement
from flows.dates import moment_text
from flows.texts import Texts
from storage import Database, Repositories
from storage.events import Event
from storage.outbox_rows import EventAnnouncement
from storage.subscriptions import Announcement

log = logging.getLogger("madoguchi.announce")

EXIT_BAD_INPUT = 2
EXIT_DECLINED = 1

QuotaSource = Callable[[], Awaitable[Quota]]
# Why an event cannot be announced (also the wording key in [staff_announce]).
Refusal = Literal["not_found", "internal", "cancelled", "closed", "past", "announced", "no_recipients"]


@dataclass(frozen=True)
class Plan:
    """What announcing an event would do, as staff are shown it before they confirm."""

    event: Event | None
    refusal: Refusal | None
    recipients: int = 0
    messages: tuple[dict[str, Any], ...] = ()
    quota: Quota | None = None
    announced: Announcement | None = None

    @property
    def cost(self) -> int:
        """Messages counted against the monthly quota: each recipient gets every message."""
        return self.recipients * len(self.messages)

    @property
    def remaining(self) -> int | None:
        """What the month has left; None when LINE sets no limit or could not be asked."""
        if self.quota is None or self.quota.limit is None:
            return None
        return max(0, self.quota.limit - self.quota.used)

    @property
    def over(self) -> int:
        """How many messages more than the month has left (0 when it fits or is not known)."""
        remaining = self.remaining
        return 0 if remaining is None else max(0, self.cost - remaining)


def why_not(event: Event | None, announced: Announcement | None, now: datetime) -> Refusal | None:
    if event is None:
        return "not_found"
    if announced is not None:
        return "announced"
    if not event.public:
        return "internal"
    if event.status == "cancelled":
        return "cancelled"
    if event.status != "open":
        return "closed"
    if event.starts_at <= now:
        return "past"
    if not event.open_for_sign_up(now):  # its registration deadline passed: nobody could sign up
        return "closed"
    return None


def messages_for(event: Event, settings: Settings, texts: Texts) -> tuple[dict[str, Any], ...]:
    """The announcement as LINE messages (the same for everyone: nothing personal)."""
    text = announcement(event, kind_label(settings, event.kind), texts, settings.center.tz)
    return tuple(render(text))


async def plan(
    read: Repositories, event_id: int, settings: Settings, texts: Texts, now: datetime, quota: Quota | None
) -> Plan:
    event = await read.events.get(event_id)
    announced = await read.announcements.get(event_id) if event is not None else None
    refusal = why_not(event, announced, now)
    if event is None or refusal is not None:
        return Plan(event, refusal, quota=quota, announced=announced)
    recipients = len(await read.subscriptions.recipients(event.kind))
    if recipients == 0:
        return Plan(event, "no_recipients", quota=quota)
    return Plan(event, None, recipients, messages_for(event, settings, texts), quota)


async def month_quota(source: QuotaSource | None, wait: float) -> Quota | None:
    """The month's quota, or None when it cannot be had within `wait` seconds (the send still checks)."""
    if source is None:
        return None
    try:
        return await asyncio.wait_for(source(), wait)
    except (TimeoutError, ApiException, aiohttp.ClientError) as exc:
        log.warning("announce.quota_unavailable", extra=fields(error=type(exc).__name__))
        return None


@dataclass(frozen=True)
class Announced:
    """What `announce` did: queued `batches` multicasts for `recipients`, or refused."""

    event: Event | None
    refusal: Refusal | None
    recipients: int = 0
    batches: int = 0
    announced: Announcement | None = None


async def announce(
    tx: Repositories, event_id: int, *, actor: str, settings: Settings, texts: Texts, now: datetime
) -> Announced:
    """Claim the event and queue its announcement, in the caller's transaction. Recipients are counted
    again here: who stopped or unfollowed since the confirmation is not sent to."""
    event = await tx.events.get(event_id)
    refusal = why_not(event, None, now)  # announced before or not: the claim below decides
    if event is None or refusal is not None:
        return Announced(event, refusal)
    recipients = await tx.subscriptions.recipients(event.kind)
    if not recipients:
        return Announced(event, "no_recipients")
    messages = list(messages_for(event, settings, texts))
    if not await tx.announcements.claim(event.id, now, actor, len(recipients), len(messages)):
        return Announced(event, "announced", announced=await tx.announcements.get(event.id))
    # Only the event and the recipients: the sender draws the text, and checks both again, when it sends.
    parts = batches(recipients)
    for number, batch in enumerate(parts):
        row = EventAnnouncement(event.id, batch)
        await tx.outbox.add(row, MULTICAST, now, order_key=announcement_order_key(event.id, number))
    detail = {"recipients": len(recipients), "messages": len(messages), "batches": len(parts)}
    await tx.audit.record(actor, "event.announced", "event", event.id, now, detail)
    log.info("announce.queued", extra=fields(event=event.id, recipients=len(recipients), batches=len(parts)))
    return Announced(event, None, len(recipients), len(parts))


async def draw_announcement(
    read: Repositories, row: EventAnnouncement, now: datetime, *, settings: Settings, texts: Texts
) -> tuple[list[str], list[dict[str, Any]]] | str:
    """A queued batch as it is to be sent now: those of its recipients who would still be told (they
    follow, chose the event's kind and did not send 配信停止) and the event's text as it is now; or why
    nothing is sent (the event is gone, cancelled, internal, closed or started, or nobody is left)."""
    event = await read.events.get(row.event_id)
    refusal = why_not(event, None, now)
    if event is None or refusal is not None:
        return f"not announced: {REFUSALS[refusal or 'not_found']}"
    to = await read.subscriptions.still_recipients(event.kind, row.to)
    if not to:
        return "not announced: nobody left who chose the kind"
    return to, list(messages_for(event, settings, texts))


# -- madoguchi events announce EVENT_ID --config PATH [--yes] --------------------------------------

REFUSALS: dict[Refusal, str] = {
    "not_found": "no such event",
    "internal": "it is internal (staff only): only public events are announced",
    "cancelled": "it is cancelled",
    "closed": "its registration is closed",
    "past": "it has already started",
    "announced": "it was announced already (an event is announced once)",
    "no_recipients": "nobody chose this kind of event (配信設定): there is no one to send it to",
}


async def announce_command(
    settings: Settings, event_id: int, yes: bool, ask: Callable[[str], str] = input
) -> int:
    """Print whom the announcement reaches and what it costs, ask (unless `yes`), then queue it; the
    running bot (serve) sends it."""
    texts = Texts.load()
    tz = settings.center.tz
    quota: Quota | None = None
    try:
        async with LineApi(settings.line) as api:
            quota = await api.quota()
    except (ApiException, aiohttp.ClientError, TimeoutError) as exc:
        reason = platform_error("the quota request", exc, settings.line.api_base_url)
        print(f"warning: {reason}; the quota is checked again before sending", file=sys.stderr)
    db = await Database.open(settings.database_path, settings.storage.busy_timeout_ms)
    try:
        shown = await plan(db.read, event_id, settings, texts, utc_now(), quota)
        event = shown.event
        if event is not None:
            print(f"event {event.id}: {event.title} ({kind_label(settings, event.kind)})")
            print(f"starts: {moment_text(texts, event.starts_at, tz)} ({tz})")
        if shown.refusal is not None:
            print(f"error: event {event_id} cannot be announced: {REFUSALS[shown.refusal]}", file=sys.stderr)
            return EXIT_BAD_INPUT
        print(f"recipients: {shown.recipients} (following citizens who chose this kind, not stopped)")
        print(f"cost: {shown.cost} messages ({shown.recipients} recipients x {len(shown.messages)} message)")
        if shown.quota is not None:
            limit = "unlimited" if shown.quota.limit is None else f"{shown.quota.limit:,}"
            left = "" if shown.remaining is None else f", {shown.remaining:,} remaining"
            print(f"quota this month: {limit}, {shown.quota.used:,} used{left}")
        if shown.over:
            print(
                f"warning: {shown.over} messages more than the month has left: LINE refuses what is over",
                file=sys.stderr,
            )
        if not yes and not _agreed(ask, f"Send the announcement to {shown.recipients} citizens? [y/N] "):
            print("nothing sent")
            return EXIT_DECLINED
        async with db.transaction() as tx:
            done = await announce(tx, event_id, actor="cli", settings=settings, texts=texts, now=utc_now())
    finally:
        await db.close()
    if done.refusal is not None:
        print(f"error: event {event_id} cannot be announced: {REFUSALS[done.refusal]}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(
        f"queued for {done.recipients} citizens in {done.batches} multicast request(s); "
        "the running bot sends them (it looks for new messages at least every 30 seconds)"
    )
    return 0


def _agreed(ask: Callable[[str], str], question: str) -> bool:
    try:
        answer = ask(question)
    except EOFError:  # no terminal to answer: no
        return False
    return answer.strip().lower() in ("y", "yes")
