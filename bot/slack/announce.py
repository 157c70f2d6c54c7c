"""告知する in Slack: staff announce a public upcoming event to the citizens who chose its kind.

The button sits on each public event in `/madoguchi events` (bot/slack/events.py). It opens a modal
that shows, before anything is sent, how many citizens it reaches (following the account, chose the
kind, not stopped), the quota it uses (recipients × messages), what the month has left and a warning
when it is not enough, and the message itself. Confirming claims the event and queues the multicasts
in one transaction (bot/announce.py): a double click, a retried request or two staff confirming at
once announce it once. Only staff may, by the event desk's own check.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.announce import Plan, QuotaSource, announce, month_quota, plan
from bot.clock import Clock
from bot.config import Settings
from bot.event_import import kind_label
from bot.logs import fields
from bot.slack.events import EventDesk, _plain
from bot.slack.mrkdwn import escape, escape_cut
from bot.slack.payload import row_id, view_metadata
from bot.slack.tell import Ack, open_button_view
from flows.dates import moment_text
from flows.texts import Texts
from storage import Database
from storage.events import Event
from storage.subscriptions import Announcement

log = logging.getLogger("madoguchi.slack")

# Slack's trigger id lives 3 s: LINE's quota is asked for no longer than this before the modal opens.
QUOTA_WAIT_SECONDS = 1.5
PREVIEW_LIMIT = 2000  # the message as shown in the modal (a section holds 3,000 characters)


class AnnounceDesk:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        client: AsyncWebClient,
        texts: Texts,
        clock: Clock,
        events: EventDesk,
        on_queued: Callable[[], None],
    ) -> None:
        self._settings = settings
        self._db = db
        self._client = client
        self._texts = texts
        self._clock = clock
        self._events = events
        self._on_queued = on_queued
        # LINE's monthly quota (set by the runtime: LineApi.quota); without it the modal says unknown.
        self.quota: QuotaSource | None = None

    def register(self, app: AsyncApp) -> None:
        app.action("event_announce")(self._button)
        app.view("event_announce_confirm")(self._confirm)

    async def _button(self, ack: Ack, body: dict[str, Any]) -> None:
        await ack()
        refusal = await self._events.refusal(str(body["user"]["id"]))
        if refusal is not None:
            view = self._events.notice_view(refusal)
        else:
            event_id = row_id(body["actions"][0].get("value"))
            quota = await month_quota(self.quota, QUOTA_WAIT_SECONDS)
            shown = await plan(self._db.read, event_id, self._settings, self._texts, self._clock(), quota)
            view = self.confirm_view(shown)
        await open_button_view(self._client, body, view, self._texts.get("staff_view.open_failed"))

    def confirm_view(self, shown: Plan) -> dict[str, Any]:
        """The numbers and the message, with 告知する; or why the event cannot be announced."""
        texts, event = self._texts, shown.event
        if event is None or shown.refusal is not None:
            return self._events.notice_view(self._refusal_text(event, shown.refusal, shown.announced))
        remaining = (
            texts.get("staff_announce.quota_unknown")
            if shown.quota is None
            else texts.get("staff_announce.unlimited")
            if shown.remaining is None
            else texts.get("staff_announce.remaining", remaining=shown.remaining, limit=shown.quota.limit)
        )
        numbers = texts.get(
            "staff_announce.confirm",
            title=escape_cut(event.title, 300),
            when=self._when(event),
            kind=escape(kind_label(self._settings, event.kind)),
            recipients=shown.recipients,
            cost=shown.cost,
            messages=len(shown.messages),
            remaining=remaining,
        )
        lines = [numbers]
        if shown.over:
            lines.append(texts.get("staff_announce.over_quota", over=shown.over))
        lines.append(texts.get("staff_announce.once"))
        said = "\n".join(str(m.get("text", "")) for m in shown.messages)
        blocks: list[dict[str, Any]] = [
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}},
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": texts.get("staff_announce.preview")}],
            },
            {"type": "section", "text": {"type": "plain_text", "text": said[:PREVIEW_LIMIT]}},
        ]
        return {
            "type": "modal",
            "callback_id": "event_announce_confirm",
            "private_metadata": json.dumps({"event_id": event.id}),
            "title": _plain(texts.get("staff_announce.title")),
            "submit": _plain(texts.get("staff_announce.submit")),
            "close": _plain(texts.get("staff_events.back")),
            "blocks": blocks,
        }

    async def _confirm(self, ack: Ack, body: dict[str, Any]) -> None:
        actor = str(body["user"]["id"])
        refusal = await self._events.refusal(actor)
        if refusal is not None:
            await ack(response_action="update", view=self._events.notice_view(refusal))
            return
        event_id = row_id(view_metadata(body["view"]).get("event_id"))
        async with self._db.transaction() as tx:
            done = await announce(
                tx,
                event_id,
                actor=f"slack:{actor}",
                settings=self._settings,
                texts=self._texts,
                now=self._clock(),
            )
        if done.event is None or done.refusal is not None:
            text = self._refusal_text(done.event, done.refusal, done.announced)
            await ack(response_action="update", view=self._events.notice_view(text))
            return
        self._on_queued()
        log.info("slack.event_announced", extra=fields(event=done.event.id, recipients=done.recipients))
        text = self._texts.get(
            "staff_announce.done", title=escape_cut(done.event.title, 300), recipients=done.recipients
        )
        await ack(response_action="update", view=self._events.notice_view(text))

    def _refusal_text(self, event: Event | None, refusal: str | None, announced: Announcement | None) -> str:
        texts = self._texts
        if event is None or refusal is None or refusal == "not_found":
            return texts.get("staff_announce.not_found")
        title = escape_cut(event.title, 300)
        if refusal == "announced":
            if announced is None:
                return texts.get("staff_announce.once")
            when = moment_text(texts, announced.announced_at, self._settings.center.tz)
            return texts.get(
                "staff_announce.announced", title=title, when=when, recipients=announced.recipients
            )
        if refusal == "no_recipients":
            kind = escape(kind_label(self._settings, event.kind))
            return texts.get("staff_announce.no_recipients", title=title, kind=kind)
        return texts.get(f"staff_announce.{refusal}")

    def _when(self, event: Event) -> str:
        return moment_text(self._texts, event.starts_at, self._settings.center.tz)
