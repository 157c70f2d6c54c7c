"""Glue between the flows' front desk and the outbox: context from settings, replies into rows.

A citizen's answer becomes LINE outbox rows (the first may use the event's reply token); each staff
event becomes a Slack outbox row in the case's channel, ordered per case so a case's card always
goes out ahead of the follow-ups in its thread.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from bot.config import Settings
from bot.line.render import render_batches
from bot.logs import fields
from bot.slack.home_page import queue_refresh
from flows.contact import Contact
from flows.context import Notify, StaffEvent
from flows.desk import DeskContext, Reply
from flows.texts import Texts
from storage.cases import Case
from storage.deletions import journal_path, note_deletion
from storage.outbox_rows import (
    CardUpdate,
    CaseAnonymised,
    CaseCreated,
    CaseFollowup,
    CaseReopened,
    CaseUnsent,
    LineMessages,
    OutboxRow,
    ThreadPurge,
)
from storage.repositories import Repositories

log = logging.getLogger("madoguchi.citizen")


def staff_rows(event: StaffEvent) -> list[OutboxRow]:
    """What the staff side gets for each staff event: a reopened case also has its card redrawn; an
    anonymised one gets a line in its thread, the thread's posts of the citizen's words deleted, and
    its card redrawn without the personal data (see `queue_anonymised`)."""
    case_id = event.case_id
    if event.kind == "case_created":
        return [CaseCreated(case_id)]
    if event.kind == "case_followup":
        assert event.message_id is not None
        return [CaseFollowup(case_id, event.message_id)]
    if event.kind == "case_reopened":
        return [CaseReopened(case_id), CardUpdate(case_id)]
    if event.kind == "case_linked":
        return [CardUpdate(case_id)]
    if event.kind == "case_unsent":
        assert event.message_id is not None
        return [CaseUnsent(case_id, event.message_id)]
    return [CaseAnonymised(case_id), ThreadPurge(case_id), CardUpdate(case_id)]


def desk_context(settings: Settings, texts: Texts, now: datetime) -> DeskContext:
    return DeskContext(
        texts=texts,
        center_name=settings.center.name,
        now=now,
        timezone=settings.center.tz,
        categories=tuple((c.id, c.label) for c in settings.consultation.categories),
        answer_days=settings.center.answer_within_business_days,
        keep_draft_days=settings.conversation.keep_draft_days,
        calendar=settings.calendar,
        reopen_within_days=settings.consultation.reopen_within_days,
        contact=contact_of(settings),
        notice_version=settings.privacy.notice_version,
        policy_url=settings.privacy.policy_url,
        retention_days=settings.privacy.anonymise_closed_after_days,
        event_kinds=tuple((k.id, k.label) for k in settings.events.kinds),
    )


def contact_of(settings: Settings) -> Contact:
    center = settings.center
    return Contact(center.name, center.phone, center.address, center.hours, center.website)


async def queue_reply(
    tx: Repositories,
    settings: Settings,
    line_user_id: str,
    reply: Reply,
    now: datetime,
    *,
    reply_token: str | None = None,
    reply_token_expires_at: datetime | None = None,
    case_id: int | None = None,
) -> None:
    """`case_id` marks a staff answer: its delivery result is echoed in the case thread. A reply to a
    deletion first cancels (and empties) everything still waiting for the citizen, and forgets the
    bodies of their stored events: its own messages are the last they get, and the deletion is
    added to the journal a restore makes it again from (`journal_deletion`)."""
    if reply.forgotten:
        cancelled = await tx.outbox.forget(f"line:{line_user_id}", "deleted on request")
        await tx.outbox.drop_recipient(line_user_id)
        await tx.inbox.forget(f"line:{line_user_id}")
        log.info("citizen.data_deleted", extra=fields(cases=len(reply.staff), cancelled=cancelled))
    for index, batch in enumerate(render_batches(reply.messages)):
        first = index == 0 and reply_token is not None
        await tx.outbox.add(
            LineMessages(batch),
            line_user_id,
            now,
            # One reply token answers one request: the first batch; the rest are pushed.
            reply_token=reply_token if first else None,
            reply_token_expires_at=reply_token_expires_at if first else None,
            case_id=case_id,
        )
    await queue_notify(tx, reply.notify, now)
    cases: dict[int, Case] = {}  # several follow-ups of one reply are about one case: read it once
    for event in reply.staff:
        case = cases.get(event.case_id) or await tx.cases.get(event.case_id)
        assert case is not None
        cases[case.id] = case
        if event.kind == "case_anonymised":
            await queue_anonymised(tx, settings, case, now)
            continue
        for row in staff_rows(event):
            await queue_case_row(tx, settings, case, row, now)
    if reply.forgotten:
        await journal_deletion(settings, line_user_id, now)


async def journal_deletion(settings: Settings, line_user_id: str, at: datetime) -> None:
    """Append the deletion (its LINE user id and time, those of its audit entry) to
    `<database>.deletions`, which a restore reads even when the database is lost with its disk.

    Last thing in the deletion's transaction, as its commit cannot be waited for here: should the
    commit fail, the citizen's はい is handled again and the line stands for what they asked. A
    journal that cannot be written never stops the deletion: it is logged, without the citizen."""
    try:
        await asyncio.to_thread(note_deletion, journal_path(settings.database_path), at, line_user_id)
    except OSError as exc:
        log.error("citizen.deletion_journal_failed", extra=fields(error=type(exc).__name__, errno=exc.errno))


async def queue_anonymised(tx: Repositories, settings: Settings, case: Case, now: datetime) -> None:
    """The Slack side of an anonymised case: a line in its thread, the card redrawn without the
    personal data (with any copy of it a lost answer left), and App Home published again for those
    it showed the case to. A card not posted yet (its row was cancelled with the case's others) is
    posted as it is now, and redrawn too in case the first post was in flight."""
    if case.slack_ts:
        rows = staff_rows(StaffEvent("case_anonymised", case.id))
    else:
        rows = [CaseCreated(case.id), CardUpdate(case.id)]
    for row in rows:
        await queue_case_row(tx, settings, case, row, now)
    await queue_refresh(tx, case.id, now)


async def queue_notify(tx: Repositories, notify: list[Notify], now: datetime) -> None:
    """Messages to other citizens (the first on a waitlist, given a seat): pushed, if they follow."""
    for each in notify:
        other = await tx.users.get(each.user_id)
        if other is None or not other.following:
            continue
        for batch in render_batches(each.messages):
            await tx.outbox.add(LineMessages(batch), other.line_user_id, now)


async def queue_case_row(
    tx: Repositories, settings: Settings, case: Case, row: OutboxRow, now: datetime
) -> None:
    """A Slack row about a case, in the case's channel, ordered after everything else of the case."""
    await tx.outbox.add(
        row,
        case.slack_channel or settings.channel_for(case.category),
        now,
        order_key=f"slack:case:{case.id}",
        case_id=case.id,
    )
