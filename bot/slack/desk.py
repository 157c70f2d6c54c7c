"""The staff desk in Slack, through Bolt: buttons and modals on case cards, and thread messages.

Each staff act is handled on arrival in one transaction: it is deduplicated (Slack retries what it
thinks was not acknowledged), the flows decide, and every consequence is an outbox row (the answer to
the citizen on LINE, the card redrawn, a line in the case thread). A message reaches a citizen only
through the reply modal's confirmation or a thread message that starts with the reply prefix.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.citizen import queue_case_row, queue_reply
from bot.clock import Clock
from bot.config import Settings
from bot.delivery import Delivered, Final, Outcome, Retry
from bot.logs import fields
from bot.slack import card, home, mrkdwn
from bot.slack.announce import AnnounceDesk
from bot.slack.events import EventDesk
from bot.slack.home_page import HomePage
from bot.slack.http_gate import SlackHttpGate, on_error
from bot.slack.notices import NoticeDesk
from bot.slack.payload import row_id, view_metadata
from bot.slack.staff_check import StaffCheck, Verdict, refusal_text
from bot.slack.tell import CALL_FAILED, failure_kind, open_button_view, tell
from bot.text_input import make_storable
from flows import staff
from flows.dashboard import stats
from flows.desk import Reply
from flows.staff import StaffResult
from flows.texts import Texts
from storage import Database, Repositories
from storage.cases import Case
from storage.outbox import OutboxMessage
from storage.outbox_rows import CardUpdate, ThreadNote

log = logging.getLogger("madoguchi.slack")

# Messages a person wrote: plain, "also send to #channel" (thread_broadcast), and with a file attached.
PERSON_SUBTYPES = frozenset({None, "thread_broadcast", "file_share"})

# The reaction that marks a thread message kept as an internal note (never sent to the citizen).
NOTE_REACTION = "memo"

Act = Callable[[Repositories, Case], Awaitable[StaffResult]]


class SlackDesk:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        client: AsyncWebClient,
        texts: Texts,
        clock: Clock,
        on_queued: Callable[[], None],
    ) -> None:
        self._settings = settings
        self._db = db
        self._client = client
        self._texts = texts
        self._clock = clock
        self._staff = StaffCheck(client, settings.slack.staff, clock)
        self._home = HomePage(settings, db, client, texts, clock, self._staff)
        self._on_queued = on_queued
        self.app = AsyncApp(
            client=client,
            signing_secret=settings.slack.signing_secret or None,
            # Answer Slack only once our transaction is committed: an ack then means "done".
            process_before_response=True,
            # HTTP requests are verified by the gate before Bolt parses them (Bolt's check would
            # parse first and log bodies); Socket Mode needs no signature.
            request_verification_enabled=False,
        )
        self._gate = SlackHttpGate(
            settings.slack.signing_secret,
            settings.server.max_body_bytes,
            settings.server.body_timeout_seconds,
        )
        self.events = EventDesk(settings, db, client, texts, clock, self._staff, on_queued)
        self.notices = NoticeDesk(settings, db, client, texts, clock, self._staff, on_queued)
        self.app.use(_storable_body)
        self._register()
        self.app.error(on_error)
        # 告知する on the staff event list: announcing an event to the citizens who chose its kind.
        self.announce = AnnounceDesk(settings, db, client, texts, clock, self.events, on_queued)
        self.announce.register(self.app)

    async def handle_http(self, request: web.Request) -> web.Response:
        """POST /slack/events in HTTP mode: the gate verifies before anything is parsed."""
        return await self._gate.handle(request, self.app.async_dispatch)

    # -- wiring ---------------------------------------------------------------------------

    def _register(self) -> None:
        app = self.app
        texts = self._texts
        app.action("case_claim")(
            self._button(lambda tx, c, actor, now: staff.claim(tx, c, actor, now, texts))
        )
        app.action("case_unclaim")(
            self._button(lambda tx, c, actor, now: staff.unclaim(tx, c, actor, now, texts))
        )
        app.action("case_reopen")(
            self._button(lambda tx, c, actor, now: staff.reopen(tx, c, actor, now, texts))
        )
        app.action("case_reply")(self._open_modal(lambda c: card.reply_compose_view(c, texts)))
        app.action("case_close")(self._open_modal(lambda c: card.close_view(c, texts)))
        app.view("case_reply_compose")(self._reply_compose)
        app.view("case_reply_confirm")(self._reply_confirm)
        app.view("case_close_submit")(self._close_submit)
        app.event("message")(self._thread_message)
        # A mention also arrives as a message (handled above); answered so Slack does not retry it.
        app.event("app_mention")(self._ignore)
        app.event("app_home_opened")(self._home_opened)
        app.command("/madoguchi")(self._command)
        self.events.register(app)
        self.notices.register(app)

    def _button(self, act: Callable[..., Awaitable[StaffResult]]) -> Callable[..., Awaitable[None]]:
        async def listener(ack: Callable[[], Awaitable[None]], body: dict[str, Any]) -> None:
            await ack()
            action = body["actions"][0]
            actor = body["user"]["id"]
            await self._act(
                actor,
                row_id(action.get("value")),
                f"action:{action.get('action_ts')}:{actor}:{action['action_id']}",
                lambda tx, case: act(tx, case, actor, self._clock()),
                channel=(body.get("channel") or {}).get("id"),
            )

        return listener

    def _open_modal(self, view: Callable[[Case], dict[str, Any]]) -> Callable[..., Awaitable[None]]:
        async def listener(ack: Callable[[], Awaitable[None]], body: dict[str, Any]) -> None:
            await ack()
            actor = body["user"]["id"]
            channel = (body.get("channel") or {}).get("id")
            case = await self._db.read.cases.get(row_id(body["actions"][0].get("value")))
            if case is None:
                await tell(self._client, actor, channel, self._texts.get("staff.case_not_found"))
                return
            checked = await self._staff_case(actor, case)
            if isinstance(checked, str):
                await self._refuse(actor, case, checked, channel)
                return
            failed = self._texts.get("staff_view.open_failed")
            await open_button_view(self._client, body, view(checked), failed)

        return listener

    # -- modals -----------------------------------------------------------------------------

    async def _reply_compose(self, ack: Callable[..., Awaitable[None]], body: dict[str, Any]) -> None:
        """First step of a reply: check it (an error shows in the modal at once), keep the draft in
        storage, and show exactly what the citizen will receive before anything is sent. The preview
        modal carries only ids: private_metadata holds 3,000 characters at most."""
        view = body["view"]
        actor = str(body["user"]["id"])
        case = await self._db.read.cases.get(row_id(view_metadata(view).get("case_id")))
        values = (view.get("state") or {}).get("values") or {}
        text = str(((values.get("reply") or {}).get("text") or {}).get("value") or "")
        if case is None:
            await ack(response_action="errors", errors={"reply": self._texts.get("staff.case_not_found")})
            return
        checked = await self._staff_case(actor, case)
        if isinstance(checked, str):
            await ack(response_action="errors", errors={"reply": checked})
            return
        case = checked
        async with self._db.transaction() as tx:
            # Read again inside the transaction: a deletion committed since the check above wins.
            current = await tx.cases.get(case.id)
            assert current is not None  # cases are anonymised, never removed
            if current.anonymised_at is not None:
                saved: int | str = self._texts.get("staff.case_anonymised")
            else:
                saved = await staff.save_draft(tx, current, actor, text, self._clock(), self._texts)
        if isinstance(saved, str):
            await ack(response_action="errors", errors={"reply": saved})
            return
        citizen_text = staff.citizen_reply(case, text, self._texts)
        await ack(
            response_action="update", view=card.reply_preview_view(case, citizen_text, saved, self._texts)
        )

    async def _reply_confirm(self, ack: Callable[..., Awaitable[None]], body: dict[str, Any]) -> None:
        await ack()
        view = body["view"]
        metadata = view_metadata(view)
        actor = str(body["user"]["id"])
        draft_id = row_id(metadata.get("draft_id"))
        await self._act(
            actor,
            row_id(metadata.get("case_id")),
            f"view:{view['id']}:reply",
            lambda tx, case: staff.reply_from_draft(tx, case, actor, draft_id, self._clock(), self._texts),
        )

    async def _close_submit(self, ack: Callable[..., Awaitable[None]], body: dict[str, Any]) -> None:
        await ack()
        view = body["view"]
        actor = body["user"]["id"]
        message = str(view["state"]["values"]["message"]["text"].get("value") or "")
        await self._act(
            actor,
            row_id(view_metadata(view).get("case_id")),
            f"view:{view['id']}:close",
            lambda tx, case: staff.close(tx, case, actor, message, self._clock(), self._texts),
        )

    # -- thread messages ------------------------------------------------------------------

    async def _thread_message(
        self, body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        """In a case thread: `返信:` … goes to the citizen; anything else is an internal note."""
        if event.get("subtype") == "message_changed":
            await self._edited(body, event)
            return
        if event.get("bot_id") or event.get("subtype") not in PERSON_SUBTYPES or not event.get("user"):
            return  # our own posts, other bots, edits and joins
        thread_ts = event.get("thread_ts")
        if not thread_ts or thread_ts == event.get("ts"):
            return
        case = await self._db.read.cases.by_slack_message(str(event.get("channel")), str(thread_ts))
        if case is None and (not context.bot_user_id or event.get("parent_user_id") != context.bot_user_id):
            return  # a conversation among people, none of ours
        actor = str(event["user"])
        # Slack sends it escaped, links and mentions as markup: the citizen gets plain text.
        text = await mrkdwn.to_plain(str(event.get("text") or ""), self._client)
        prefix = self._settings.slack.reply_prefix
        if case is None:
            # Our post, but no case's card: a card posted twice after a lost response (docs/slack.md,
            # at-least-once) has a thread that reaches no one. An answer typed there is not dropped
            # in silence; other talk under our posts (notices, events) is left alone.
            if staff.reply_body(text, prefix) is not None or staff.looks_like_reply(text, prefix):
                not_sent = self._texts.get("staff_thread.not_a_case")
                await tell(self._client, actor, str(event.get("channel")), not_sent, thread_ts=str(thread_ts))
            return
        now = self._clock()
        answer = staff.reply_body(text, prefix)
        if answer is not None:

            async def act(tx: Repositories, c: Case) -> StaffResult:
                return await staff.reply(tx, c, actor, answer, now, self._texts, in_thread=True)
        else:

            async def act(tx: Repositories, c: Case) -> StaffResult:
                return await staff.note(tx, c, actor, text, now)

        channel = str(event.get("channel"))
        result = await self._act(
            actor, case.id, f"event:{body.get('event_id') or event.get('ts')}", act, channel=channel
        )
        if result is not None and result.kept_as_note:
            hint = staff.looks_like_reply(text, prefix)
            await self._mark_note(actor, channel, str(event.get("ts")), str(thread_ts), prefix, hint)
        elif result is not None and result.refused is None and _has_files(event):
            # Only the words go to LINE: the author must not believe the attachment went with them.
            files = self._texts.get("staff_answer.files_not_sent")
            await tell(self._client, actor, channel, files, thread_ts=str(thread_ts))

    async def _edited(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        """An edit in a case thread is never sent: what went to the citizen cannot be changed, and an
        edited note stays a note. Its author is told privately when either version was (or looked
        like) an answer, so that nobody believes the citizen now reads the edited words."""
        message, before = event.get("message") or {}, event.get("previous_message") or {}
        actor, thread_ts = message.get("user"), message.get("thread_ts")
        if message.get("bot_id") or not actor or not thread_ts or thread_ts == message.get("ts"):
            return  # our own card redrawn, other bots, a top-level message
        old, new = str(before.get("text") or ""), str(message.get("text") or "")
        prefix = self._settings.slack.reply_prefix
        if old == new or not (staff.looks_like_reply(old, prefix) or staff.looks_like_reply(new, prefix)):
            return  # a link unfurled or a reply counted (same words), or a note edited
        channel = str(event.get("channel"))
        case = await self._db.read.cases.by_slack_message(channel, str(thread_ts))
        if case is None:
            return
        async with self._db.transaction() as tx:  # a retried event tells once
            key = f"event:{body.get('event_id') or event.get('ts')}"
            first = await tx.inbox.record_handled("slack", key, f"slack:case:{case.id}", self._clock())
        if first:
            text = self._texts.get("staff_answer.edit_not_sent", prefix=mrkdwn.escape(prefix))
            await tell(self._client, str(actor), channel, text, thread_ts=str(thread_ts))

    async def _mark_note(
        self, actor: str, channel: str, ts: str, thread_ts: str, prefix: str, hint: bool
    ) -> None:
        """Nobody must mistake a note for an answer: the message gets a :memo: reaction; its author is
        also told in words when it looked like an answer or when the reaction could not be added."""
        marked = True
        try:
            await self._client.reactions_add(channel=channel, timestamp=ts, name=NOTE_REACTION)
        except CALL_FAILED as exc:  # best effort: the note is stored; a dropped connection too
            error = failure_kind(exc)
            marked = error == "already_reacted"
            if not marked:
                log.warning("slack.note_reaction_failed", extra=fields(error=error))
        if hint or not marked:
            text = (
                self._texts.get("staff.note_kept_hint", prefix=mrkdwn.escape(prefix))
                if hint
                else self._texts.get("staff.note_kept")
            )
            await tell(self._client, actor, channel, text, thread_ts=thread_ts)

    async def _ignore(self) -> None:
        return None

    # -- App Home and /madoguchi --------------------------------------------------------------

    async def _home_opened(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        """Answered 200 even when the page cannot be published: App Home has nowhere to say so, and
        Slack's retry would only be another opening to audit."""
        if event.get("tab", "home") != "home":
            return
        # A retried delivery (our first answer was late) is the same opening: audited and shown once.
        event_id = body.get("event_id")
        await self._home.publish(str(event["user"]), f"event:{event_id}" if event_id else None)

    async def _command(self, ack: Callable[..., Awaitable[None]], command: dict[str, Any]) -> None:
        """`/madoguchi cases`, `/madoguchi case 2026-0001`, `/madoguchi stats`: answered to the caller only."""
        actor = str(command["user_id"])
        if self._staff.by_list and await self._staff.verdict(actor, None) is not Verdict.STAFF:
            await ack(text=self._texts.get("staff.not_staff"))
            return
        # Otherwise each case is checked against its own channel, wherever the command was typed.
        words = str(command.get("text") or "").split()
        read = self._db.read
        if words[:1] == ["cases"]:
            # Counted per channel and category, and only the cases listed are loaded: who may see a
            # case is decided by its channel (a center has thousands of open cases in a few channels).
            groups = await read.cases.open_groups()
            channel = {(c, k): c or self._settings.channel_for(k) for c, k, _ in groups}
            verdicts = await self._staff.verdicts(actor, channel.values())
            seen = [(c, k) for c, k, _ in groups if verdicts[channel[(c, k)]] is Verdict.STAFF]
            hidden = sum(n for c, k, n in groups if (c, k) not in seen)
            unchecked = any(v is Verdict.UNKNOWN for v in verdicts.values())
            if unchecked:
                log.warning("slack.staff_unknown", extra=fields(cases=hidden))
            shown = await read.cases.open_in_groups(seen, home.COMMAND_CASES)
            await self._home.audit_read(actor, shown, "command")
            await ack(text=home.cases_text(shown, self._settings, self._texts, hidden, unchecked))
        elif words[:1] == ["case"] and len(words) == 2:
            found = await read.cases.by_number(words[1])
            case = None if found is None else await self._staff_case(actor, found)
            if case is None:
                # What was typed, as typed (Slack sends it escaped), and shown literally.
                typed = mrkdwn.escape(mrkdwn.unescape(words[1]))
                await ack(text=self._texts.get("command.not_found", number=typed))
            elif isinstance(case, str):
                await ack(text=case)
            else:
                earlier = await read.cases.earlier_numbers(case)
                booking = await card.case_booking(read, case, self._texts, self._settings.center.tz)
                await self._home.audit_read(actor, [case], "command")
                blocks = home.case_detail(case, self._settings, self._texts, earlier, booking)
                await ack(text=case.number, blocks=blocks)
        elif words[:1] == ["stats"]:
            now = self._clock()
            figures = await stats(read, now, self._settings.center.tz)
            alerts = await read.ops_alerts.since(now - timedelta(hours=24))
            await ack(text=home.stats_text(figures, self._texts, alerts, self._settings.center.tz))
        elif words[:1] in (["event"], ["events"]):
            await self.events.command(ack, command, words)
        elif words[:1] == ["notice"]:
            await self.notices.command(ack, command)
        else:
            await ack(text=self._texts.get("command.usage"))

    # -- doing it ---------------------------------------------------------------------------

    async def _act(
        self, actor: str, case_id: int, dedupe_key: str, act: Act, channel: str | None = None
    ) -> StaffResult | None:
        """Check, deduplicate and carry out one staff act; its result, or None when nothing was done."""
        case = await self._db.read.cases.get(case_id)
        if case is None:
            await tell(self._client, actor, channel, self._texts.get("staff.case_not_found"))
            return None
        checked = await self._staff_case(actor, case)
        if isinstance(checked, str):
            log.info("slack.refused", extra=fields(case=case.number))
            if await self._refuse(actor, case, checked, channel):
                # Told (to try again by hand, or why not): this delivery is answered for good, so
                # Slack's retry of it (the look-up made us late) does not act after the actor retried.
                # Untold, a retry is the only retry, and it is carried out.
                async with self._db.transaction() as tx:
                    await tx.inbox.record_handled("slack", dedupe_key, f"slack:case:{case_id}", self._clock())
            return None
        now = self._clock()
        async with self._db.transaction() as tx:
            if not await tx.inbox.record_handled("slack", dedupe_key, f"slack:case:{case_id}", now):
                log.info("slack.duplicate", extra=fields(case=case.number))
                return None
            current = await tx.cases.get(case_id)
            assert current is not None
            # Checked again here: a citizen's deletion may have committed since the check above
            # (the staff look-up can take seconds), and nothing may be written into an erased case.
            if current.anonymised_at is not None:
                result = StaffResult(refused=self._texts.get("staff.case_anonymised"))
            else:
                result = await act(tx, current)
            if result.refused is None:
                await self._queue(tx, current, result, actor)
        if result.refused is not None:
            await self._refuse(actor, case, result.refused, channel)
            return result
        self._on_queued()
        return result

    async def _queue(self, tx: Repositories, case: Case, result: StaffResult, actor: str) -> None:
        now = self._clock()
        if result.citizen and case.user_id is not None:
            user = await tx.users.get(case.user_id)
            if user is not None:
                reply = Reply(list(result.citizen))
                await queue_reply(tx, self._settings, user.line_user_id, reply, now, case_id=case.id)
        await self.queue_case_update(tx, case, result.thread, redraw=False)
        if result.reply_copy is not None:
            copy = mrkdwn.escape(result.reply_copy)
            line = self._texts.get("staff.replied", actor=actor, text=copy)
            # It quotes the answer: tagged so that deleting the citizen's data deletes it.
            row = ThreadNote(case.id, line, personal=True)
            await queue_case_row(tx, self._settings, case, row, self._clock())
        await self.queue_case_update(tx, case, [], redraw=result.card_changed)

    async def queue_case_update(self, tx: Repositories, case: Case, lines: list[str], redraw: bool) -> None:
        """Thread lines and a redraw of the card, in order after everything else of this case."""
        now = self._clock()
        for line in lines:
            await queue_case_row(tx, self._settings, case, ThreadNote(case.id, line), now)
        if redraw:
            await queue_case_row(tx, self._settings, case, CardUpdate(case.id), now)

    async def echo_delivery(self, message: OutboxMessage, outcome: Outcome) -> None:
        """Every message sent to a citizen is echoed in the case thread with how it went."""
        if message.channel != "line" or message.case_id is None:
            return
        if isinstance(outcome, Delivered):
            line = self._texts.get("staff.sent")
        else:
            line = not_sent_line(outcome, self._texts)
        async with self._db.transaction() as tx:
            case = await tx.cases.get(message.case_id)
            if case is not None:
                await self.queue_case_update(tx, case, [line], redraw=False)
        self._on_queued()

    async def _staff_case(self, actor: str, case: Case) -> Case | str:
        """The case as it stands once `actor` is found staff of it (the configured list, or else the
        members of the case's own channel); otherwise what to tell them. A membership look-up that
        failed is said as such, never as "you are not staff"."""
        verdict = await self._staff.verdict(actor, self._home.channel_of(case))
        refusal = refusal_text(verdict, self._texts, case=case.number)
        if refusal is not None:
            return refusal
        # Read again: the look-up can take seconds, and a deletion committed meanwhile must win
        # over what was read before it (nothing of an erased case is shown or done).
        current = await self._db.read.cases.get(case.id)
        assert current is not None  # cases are anonymised, never removed
        if current.anonymised_at is not None:
            # Nothing can be done with a case whose personal data is gone (no answer could reach anyone).
            return self._texts.get("staff.case_anonymised")
        return current

    async def _refuse(self, actor: str, case: Case, text: str, channel: str | None = None) -> bool:
        """Whether the actor was told."""
        return await tell(self._client, actor, channel or self._home.channel_of(case), text)


# What staff should do about a message that did not reach the citizen, by the outbox's reason.
NOT_SENT_REASON_MAX = 80


def not_sent_line(outcome: Final | Retry, texts: Texts) -> str:
    """In Japanese, what happened and what to do; LINE's own reason, cut short, at the end for IT."""
    if isinstance(outcome, Retry):
        advice, reason = "staff.not_sent_retries", f"retries exhausted: {outcome.reason}"
    elif outcome.reason == "unfollowed" or "blocked" in outcome.reason.lower():
        advice, reason = "staff.not_sent_blocked", outcome.reason
    elif outcome.reason.startswith("monthly_limit"):
        advice, reason = "staff.not_sent_monthly", outcome.reason
    else:
        advice, reason = "staff.not_sent_refused", outcome.reason
    if len(reason) > NOT_SENT_REASON_MAX:
        reason = reason[: NOT_SENT_REASON_MAX - 1] + "…"
    return texts.get("staff.not_sent", advice=texts.get(advice), reason=mrkdwn.escape(reason))


def _has_files(event: dict[str, Any]) -> bool:
    """A message with an attachment: Slack marks it file_share and lists the files."""
    return bool(event.get("files")) or event.get("subtype") == "file_share"


async def _storable_body(body: dict[str, Any], next: Callable[[], Awaitable[None]]) -> None:
    """Bolt middleware, before every listener (HTTP and Socket Mode): lone surrogates in what Slack
    sent (a JSON `\\ud83d` escape) replaced, so that what staff wrote is kept and sent, not refused
    by SQLite with a 400 that Slack's retries repeat (bot/text_input.py)."""
    make_storable(body)
    await next()
