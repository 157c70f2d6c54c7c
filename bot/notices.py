"""Network-meeting notices to the 18 ward centers, the runtime side: a notice from its fields, its
delivery to every ward on each of its channels, answers, changes and cancellations, LINE group events,
and the reminders.

Every consequence is an outbox row written in the caller's transaction: a ward's Slack copy
(`WardNoticeCopy`, posted once and then updated in place), the staff's answer sheet (`NoticeSheet`,
the same), messages to a ward's LINE group (`WardGroupMessages`, pushed with a retry key; LINE
messages cannot be edited, so a change or a reminder is a new message, and an answer gets a short
reply). The wording and the counting are flows/notices.py's.

Whose answer counts: a press in a ward's own Slack channel on its own copy, or a postback in its own
linked LINE group. The value a button carries names its ward; it must be the ward of the place it came
from. LINE groups never reach the citizen desk: only join/leave and answer postbacks are read there.

Reminders are columns of the notice (migration 0017), claimed with a conditional UPDATE in the
transaction that queues their messages; APScheduler only rings the bell, a sweep every minute catches
what an alarm missed, so a restart neither loses nor repeats one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, time

from linebot.v3.webhooks import Event, JoinEvent, LeaveEvent, PostbackEvent

from bot.clock import Clock
from bot.config import Settings
from bot.event_import import FieldError, field_text, field_url, parse_time
from bot.line.render import render
from bot.logs import fields
from bot.scheduler import Scheduler
from bot.slack.mrkdwn import escape
from flows import notices as flow
from flows.messages import Outgoing, Text
from flows.texts import Texts
from storage import Database, Repositories
from storage.notices import Notice, NoticeDraft, NoticeRecipient, ReminderKind, Via
from storage.outbox_rows import ChannelPost, LineMessages, NoticeSheet, WardGroupMessages, WardNoticeCopy
from storage.wards import WardCenterRecord

log = logging.getLogger("madoguchi.notices")

MAX_TITLE = 100
MAX_VENUE = 200
MAX_AGENDA = 1500
FIELDS = ("title", "at", "deadline", "venue", "url", "agenda", "materials")
SWEEP_SECONDS = 60.0
GROUPS_ORDER_KEY = "slack:wards:groups"


# -- a notice from its fields ------------------------------------------------------------------------


def draft_from_fields(values: Mapping[str, str], settings: Settings, now: datetime) -> NoticeDraft:
    """A notice's details from text (the Slack form, the command line); FieldError names the first
    bad field: title, at, deadline, venue, url, agenda, materials."""
    tz = settings.center.tz

    title = field_text(values, "title", MAX_TITLE)
    if not title:
        raise FieldError("title", "required")
    if not (values.get("at") or "").strip():
        raise FieldError("at", "required (expected 2026-12-01 14:00)")
    meeting_at = parse_time("at", values.get("at") or "", tz)
    if meeting_at <= now:
        raise FieldError("at", "must be in the future")
    if not (values.get("deadline") or "").strip():
        raise FieldError("deadline", "required (expected 2026-11-24 17:00)")
    answer_by = parse_time("deadline", values.get("deadline") or "", tz)
    if answer_by <= now:
        raise FieldError("deadline", "must be in the future")
    if answer_by > meeting_at:
        raise FieldError("deadline", "must not be after the meeting")
    venue = field_text(values, "venue", MAX_VENUE)
    online_url = field_url(values, "url")
    if not venue and not online_url:
        raise FieldError("venue", "give a venue, an online URL, or both")
    return NoticeDraft(
        title=title,
        meeting_at=meeting_at,
        answer_by=answer_by,
        venue=venue,
        online_url=online_url,
        agenda=field_text(values, "agenda", MAX_AGENDA, multiline=True),
        materials_url=field_url(values, "materials"),
    )


# -- queueing ----------------------------------------------------------------------------------------


def _copy_key(notice_id: int, ward_id: int) -> str:
    return f"slack:notice:{notice_id}:ward:{ward_id}"


def _sheet_key(notice_id: int) -> str:
    return f"slack:notice:{notice_id}:sheet"


@dataclass(frozen=True)
class Notices:
    """What staff and ward centers do with notices, each in the caller's transaction."""

    settings: Settings
    texts: Texts

    async def send(self, tx: Repositories, draft: NoticeDraft, actor: str, now: datetime) -> Notice | None:
        """A new notice to every configured ward on each of its channels, and its answer sheet; None when
        no ward has a channel."""
        wards = await tx.wards.configured([w.ward for w in self.settings.wards])
        reachable = [w for w in wards if w.slack_channel or w.line_group_id]
        if not reachable:
            return None
        notice = await tx.notices.create(
            draft, actor, now, [(w.id, w.slack_channel, w.line_group_id) for w in reachable]
        )
        for ward in reachable:
            if ward.slack_channel:
                await tx.outbox.add(
                    WardNoticeCopy(notice.id, ward.id),
                    ward.slack_channel,
                    now,
                    order_key=_copy_key(notice.id, ward.id),
                )
            if ward.line_group_id:
                card = flow.ward_card(self.texts, notice, ward.id, ward.ward, self.settings.center.tz, "new")
                await self._to_group(tx, notice.id, ward.id, ward.line_group_id, card, now)
        await self._sheet(tx, notice.id, now)
        await self._schedule(tx, notice, now)
        await tx.audit.record(actor, "notice.sent", "notice", notice.id, now, {"wards": len(reachable)})
        log.info("notices.sent", extra=fields(notice=notice.id, wards=len(reachable)))
        return notice

    async def change(
        self, tx: Repositories, notice_id: int, draft: NoticeDraft, actor: str, now: datetime
    ) -> Notice | None:
        """New details to every ward on every channel (the Slack copies redrawn, a line posted; a new
        LINE message with the answer buttons), the sheet redrawn, reminders moved. None: cancelled or gone."""
        if not await tx.notices.change(notice_id, draft, now):
            return None
        notice = await tx.notices.get(notice_id)
        assert notice is not None
        tz = self.settings.center.tz
        for recipient, ward in await self._recipients(tx, notice_id):
            if recipient.slack_channel:
                key = _copy_key(notice_id, ward.id)
                await tx.outbox.add(
                    WardNoticeCopy(notice_id, ward.id), recipient.slack_channel, now, order_key=key
                )
                post = ChannelPost(escape(flow.changed_text(self.texts, notice, tz)))
                await tx.outbox.add(post, recipient.slack_channel, now, order_key=key)
            if ward.line_group_id:
                card = flow.ward_card(self.texts, notice, ward.id, ward.ward, tz, "changed")
                await self._to_group(tx, notice_id, ward.id, ward.line_group_id, card, now)
        await self._sheet(tx, notice_id, now)
        await self._schedule(tx, notice, now)
        await tx.audit.record(actor, "notice.changed", "notice", notice_id, now)
        log.info("notices.changed", extra=fields(notice=notice_id))
        return notice

    async def cancel(self, tx: Repositories, notice_id: int, actor: str, now: datetime) -> Notice | None:
        """Cancelled: every ward told on every channel, the copies and the sheet redrawn, reminders
        cancelled. None when it was cancelled already (nothing is sent twice) or is gone."""
        if not await tx.notices.cancel(notice_id, now):
            return None
        notice = await tx.notices.get(notice_id)
        assert notice is not None
        text = flow.cancelled_text(self.texts, notice, self.settings.center.tz)
        for recipient, ward in await self._recipients(tx, notice_id):
            if recipient.slack_channel:
                key = _copy_key(notice_id, ward.id)
                await tx.outbox.add(
                    WardNoticeCopy(notice_id, ward.id), recipient.slack_channel, now, order_key=key
                )
                await tx.outbox.add(ChannelPost(escape(text)), recipient.slack_channel, now, order_key=key)
            if ward.line_group_id:
                await self._to_group(tx, notice_id, ward.id, ward.line_group_id, Text(text), now)
        await self._sheet(tx, notice_id, now)
        await tx.audit.record(actor, "notice.cancelled", "notice", notice_id, now)
        log.info("notices.cancelled", extra=fields(notice=notice_id))
        return notice

    async def answer(
        self,
        tx: Repositories,
        value: flow.AnswerValue,
        ward: WardCenterRecord,
        by: str,
        via: Via,
        where: str,
        now: datetime,
        *,
        given_at: datetime | None = None,
    ) -> Answered:
        """Record a ward's answer given in its own place (`where`: its channel or group). Unchanged
        answers (a double click, a retried request) write nothing and queue nothing. `given_at`: when it
        was given (a LINE tap's signed timestamp), for the deadline, as LINE may redeliver it late;
        `now` (the handling time) when unknown."""
        if value.ward_id != ward.id:
            return Answered(self.texts.get("notices.refused_other_ward"))
        notice = await tx.notices.get(value.notice_id)
        recipient = await tx.notices.recipient(value.notice_id, ward.id)
        if notice is None or recipient is None:
            return Answered(self.texts.get("notices.refused_unknown"))
        refused = flow.refusal(self.texts, notice, given_at or now, self.settings.center.tz)
        if refused is not None:
            return Answered(refused, notice=notice)
        attendees = flow.attendees_for(value, recipient)
        changed = await tx.notices.record_answer(
            notice.id, ward.id, value.answer, attendees, by, via, where, now
        )
        if changed:
            if recipient.slack_channel:
                await tx.outbox.add(
                    WardNoticeCopy(notice.id, ward.id),
                    recipient.slack_channel,
                    now,
                    order_key=_copy_key(notice.id, ward.id),
                )
            await self._sheet(tx, notice.id, now)
            log.info(
                "notices.answered", extra=fields(notice=notice.id, ward=ward.id, via=via, answer=value.answer)
            )
        return Answered(None, notice=notice, attendees=attendees, changed=changed)

    async def remind(self, tx: Repositories, notice: Notice, kind: ReminderKind, now: datetime) -> int:
        """The reminder's messages to the wards it is for; returns how many wards."""
        tz = self.settings.center.tz
        text = flow.reminder_text(self.texts, notice, kind, tz)
        told = 0
        for recipient, ward in await self._recipients(tx, notice.id):
            if recipient not in flow.reminder_recipients(kind, [recipient]):
                continue
            told += 1
            if recipient.slack_channel:
                await tx.outbox.add(
                    ChannelPost(escape(text)),
                    recipient.slack_channel,
                    now,
                    order_key=_copy_key(notice.id, ward.id),
                )
            if ward.line_group_id:
                message: Outgoing = (
                    flow.ward_card(self.texts, notice, ward.id, ward.ward, tz, "unanswered")
                    if kind == "unanswered"
                    else Text(text)
                )
                await self._to_group(tx, notice.id, ward.id, ward.line_group_id, message, now)
        return told

    async def _recipients(
        self, tx: Repositories, notice_id: int
    ) -> list[tuple[NoticeRecipient, WardCenterRecord]]:
        """The notice's recipients with their wards as they are now: what comes after the notice goes
        to a ward's LINE group now (where its answers are taken), not the one recorded when it was sent,
        which may have been moved to another ward since."""
        found = []
        for recipient in await tx.notices.recipients(notice_id):
            ward = await tx.wards.get(recipient.ward_center_id)
            if ward is not None:
                found.append((recipient, ward))
        return found

    async def _to_group(
        self, tx: Repositories, notice_id: int, ward_id: int, group_id: str, message: Outgoing, now: datetime
    ) -> None:
        row = WardGroupMessages(notice_id, ward_id, render(message))
        await tx.outbox.add(row, group_id, now, order_key=f"line:{group_id}")

    async def _sheet(self, tx: Repositories, notice_id: int, now: datetime) -> None:
        notice = await tx.notices.get(notice_id)
        channel = (notice.sheet_channel if notice else None) or self.settings.notices_channel
        await tx.outbox.add(NoticeSheet(notice_id), channel, now, order_key=_sheet_key(notice_id))

    async def _schedule(self, tx: Repositories, notice: Notice, now: datetime) -> None:
        day_at = time.fromisoformat(self.settings.ward_notices.meeting_day_at)
        due = flow.reminder_times(
            notice, self.settings.ward_notices.remind_delta, day_at, self.settings.center.tz, now
        )
        for kind, at in due.items():
            await tx.notices.schedule_reminder(notice.id, kind, at)


@dataclass(frozen=True)
class Answered:
    """How an answer went: `refused` says why it was not taken (to tell the one who pressed)."""

    refused: str | None
    notice: Notice | None = None
    attendees: int | None = None
    changed: bool = False


# -- LINE groups ---------------------------------------------------------------------------------------


class GroupEvents:
    """Events from LINE groups and rooms (never the citizen desk): the bot joined or left (recorded,
    staff told the group id and how to link it), and answer postbacks from a ward's linked group.
    Everything else said in a group is ignored."""

    def __init__(self, settings: Settings, texts: Texts) -> None:
        self._settings = settings
        self._texts = texts
        self._notices = Notices(settings, texts)

    async def handle(
        self,
        event: Event,
        tx: Repositories,
        now: datetime,
        *,
        issued_at: datetime,
        reply_token_expires_at: datetime | None,
    ) -> None:
        """`issued_at`: when the event happened (its timestamp, never later than arrival)."""
        source = event.source
        group_id = getattr(source, "group_id", None) or getattr(source, "room_id", None)
        if not isinstance(group_id, str) or not group_id:
            return
        if isinstance(event, JoinEvent | LeaveEvent):
            await self._membership(event, group_id, tx, now)
            return
        if not isinstance(event, PostbackEvent):
            log.info("notices.group_ignored", extra=fields(type=event.type))
            return
        value = flow.AnswerValue.unpack(event.postback.data)
        ward = await _ward_of(tx, group_id)
        if value is None or ward is None:
            # Not our button, or a group linked to no ward: recorded nowhere, answered nothing.
            log.info("notices.group_postback_ignored", extra=fields(linked=ward is not None))
            return
        user = getattr(source, "user_id", None) or ""
        result = await self._notices.answer(
            tx, value, ward, f"line:{user}" if user else "line", "line", group_id, now, given_at=issued_at
        )
        if result.refused is not None:
            reply: Outgoing | None = Text(result.refused)
        elif result.changed and result.notice is not None:
            reply = flow.answered(
                self._texts, ward.ward, result.notice, value, result.attendees, self._settings.center.tz
            )
        else:
            reply = None  # the same answer again (a double tap): nothing new to say
        if reply is not None:
            await tx.outbox.add(
                LineMessages(render(reply)),
                group_id,
                now,
                order_key=f"line:{group_id}",
                reply_token=getattr(event, "reply_token", None),
                reply_token_expires_at=reply_token_expires_at,
            )

    async def _membership(
        self, event: JoinEvent | LeaveEvent, group_id: str, tx: Repositories, now: datetime
    ) -> None:
        ward = await _ward_of(tx, group_id)
        shown = escape(group_id)
        if isinstance(event, JoinEvent):
            await tx.line_groups.joined(group_id, now)
            if ward is not None:
                text = self._texts.get("notices.group_rejoined", ward=escape(ward.ward), group=shown)
            else:
                text = self._texts.get("notices.group_joined", group=shown)
        else:
            await tx.line_groups.left(group_id, now)
            if ward is not None:
                text = self._texts.get("notices.group_left", ward=escape(ward.ward), group=shown)
            else:
                text = self._texts.get("notices.group_left_unlinked", group=shown)
        await tx.outbox.add(
            ChannelPost(text), self._settings.notices_channel, now, order_key=GROUPS_ORDER_KEY
        )
        log.info("line.group_membership", extra=fields(type=event.type, linked=ward is not None))


# -- reminders ---------------------------------------------------------------------------------------


async def _ward_of(tx: Repositories, group_id: str) -> WardCenterRecord | None:
    """The ward a LINE group is linked to. None when none is, and when (rows from before `sync` moved
    groups) two wards still hold it: never guess whose answer it is."""
    wards = await tx.wards.on_line_group(group_id)
    if len(wards) > 1:
        log.warning("notices.group_shared", extra=fields(wards=",".join(str(w.id) for w in wards)))
        return None
    return wards[0] if wards else None


class NoticeReminders:
    """Reminders of notices: before the deadline to wards without an answer (or 未定), on the meeting
    day to wards attending. A reminder found overdue is still sent while it makes sense (before the
    deadline; before the meeting), else settled without a word."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        texts: Texts,
        clock: Clock,
        *,
        scheduler: Scheduler | None = None,
        on_queued: Callable[[], None] | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._notices = Notices(settings, texts)
        self._scheduler = scheduler
        self._on_queued = on_queued
        self._lock = asyncio.Lock()
        self._armed: dict[str, datetime] = {}
        self._stopping = False

    def start(self) -> None:
        if self._scheduler is None:
            return
        self._scheduler.every(SWEEP_SECONDS, self.run, "notice-reminder-sweep")
        self._scheduler.at(self._clock(), self.run, "notice-reminder-catch-up")

    async def stop(self) -> None:
        self._stopping = True
        async with self._lock:
            pass

    async def run(self) -> int:
        """Send or settle every due reminder, arm the rest; returns how many wards were reminded."""
        async with self._lock:
            if self._stopping:
                return 0
            now = self._clock()
            told = 0
            for due in await self._db.read.notices.due_reminders(now):
                async with self._db.transaction() as tx:
                    notice = await tx.notices.get(due.notice_id)
                    if notice is None or not await tx.notices.claim_reminder(due.notice_id, due.kind, now):
                        continue  # claimed by another tick or process
                    limit = notice.answer_by if due.kind == "unanswered" else notice.meeting_at
                    if limit is not None and now >= limit:
                        outcome, wards = "missed", 0
                    else:
                        outcome, wards = "sent", await self._notices.remind(tx, notice, due.kind, now)
                told += wards
                log.info(
                    "notices.reminder",
                    extra=fields(notice=due.notice_id, kind=due.kind, outcome=outcome, wards=wards),
                )
            if told and self._on_queued is not None:
                self._on_queued()
            await self._arm()
            return told

    async def _arm(self) -> None:
        if self._scheduler is None:
            return
        pending = {
            f"notice-reminder-{r.notice_id}-{r.kind}": r.due_at
            for r in await self._db.read.notices.pending_reminders()
        }
        for name in set(self._armed) - set(pending):
            self._scheduler.cancel(name)
            del self._armed[name]
        for name, due in pending.items():
            if self._armed.get(name) != due:
                self._scheduler.at(due, self.run, name)
                self._armed[name] = due
