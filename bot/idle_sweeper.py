"""Nudges citizens who stopped mid-conversation, suspends and later deletes stale drafts."""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot.citizen import desk_context, queue_reply
from bot.clock import Clock
from bot.config import Settings
from bot.logs import fields
from flows.idle import idle_policy, sweep_idle
from flows.texts import Texts
from storage import Database

log = logging.getLogger("madoguchi.idle")


class IdleSweeper:
    def __init__(
        self, db: Database, settings: Settings, texts: Texts, clock: Clock, on_queued: Callable[[], None]
    ) -> None:
        self._db = db
        self._settings = settings
        self._texts = texts
        self._clock = clock
        self._on_queued = on_queued
        conversation = settings.conversation
        self._policy = idle_policy(
            conversation.nudge_after_minutes, conversation.expire_after_hours, conversation.keep_draft_days
        )

    async def run(self) -> int:
        """One sweep; returns how many citizens were written to."""
        now = self._clock()
        async with self._db.transaction() as tx:
            notices = await sweep_idle(tx, desk_context(self._settings, self._texts, now), self._policy)
            for notice in notices:
                if notice.user.following:
                    await queue_reply(tx, self._settings, notice.user.line_user_id, notice.reply, now)
        if notices:
            log.info("idle.swept", extra=fields(notified=len(notices)))
            self._on_queued()
        return len(notices)
