"""Mentions unclaimed cases in their thread, then posts them in the escalation channel; a case whose
answer date passed unanswered is mentioned in its thread and posted there too."""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot.clock import Clock
from bot.config import Settings
from bot.logs import fields
from bot.slack.desk import SlackDesk
from flows.dates import moment_text
from flows.escalation import overdue_cases
from flows.texts import Texts
from storage import Database
from storage.outbox_rows import ChannelNote

log = logging.getLogger("madoguchi.slack.escalation")


class EscalationSweeper:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        texts: Texts,
        clock: Clock,
        desk: SlackDesk,
        on_queued: Callable[[], None],
    ) -> None:
        self._db = db
        self._settings = settings
        self._texts = texts
        self._clock = clock
        self._desk = desk
        self._on_queued = on_queued
        self._calendar = settings.calendar

    async def run(self) -> int:
        """One sweep; returns how many cases were mentioned or escalated."""
        now = self._clock()
        hours = self._settings.business_hours
        escalation_channel = self._settings.slack.escalation_channel
        async with self._db.transaction() as tx:
            found = await overdue_cases(
                tx, now, self._calendar, hours.unclaimed_mention_minutes, hours.escalate_after_minutes
            )
            for overdue in found:
                case = overdue.case
                channel = case.slack_channel or self._settings.channel_for(case.category)
                if overdue.level == "mention":
                    text = self._texts.get("escalation.mention", minutes=hours.unclaimed_mention_minutes)
                    await self._desk.queue_case_update(tx, case, [text], redraw=False)
                    continue
                if overdue.level == "past_due":
                    assert case.answer_due_at is not None
                    due = moment_text(self._texts, case.answer_due_at, self._settings.center.tz)
                    thread = self._texts.get("escalation.past_due_thread", due=due)
                    await self._desk.queue_case_update(tx, case, [thread], redraw=False)
                    text = self._texts.get(
                        "escalation.past_due", number=case.number, channel=channel, due=due
                    )
                else:
                    text = self._texts.get(
                        "escalation.escalate",
                        number=case.number,
                        channel=channel,
                        minutes=hours.escalate_after_minutes,
                    )
                if escalation_channel:
                    await tx.outbox.add(
                        ChannelNote(case.id, text),
                        escalation_channel,
                        now,
                        order_key=f"slack:channel:{escalation_channel}",
                    )
        if found:
            log.info("escalation.swept", extra=fields(cases=len(found)))
            self._on_queued()
        return len(found)
