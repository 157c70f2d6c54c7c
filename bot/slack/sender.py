"""Delivers Slack outbox rows: case cards, card updates and thread posts.

`chat.postMessage` has no idempotency key. Our policy for an ambiguous failure (timeout or dropped
connection after the request left) is at-least-once: the post is retried, so staff may in rare cases
see a thread line twice, but never miss a case or a citizen's message. The card of a case is updated
in place through the ts recorded when it was first posted. See docs/slack.md.

A copy whose ts we never learnt (the answer was lost, or the row was cancelled while the post was in
flight) must still go when the citizen's data is deleted: every card carries message metadata
naming its case (CARD_EVENT), and every thread post with the citizen's words or an answer to them
(WORDS_EVENT). Deletion finds them in Slack by it: the card's copies in the channel's history around
the case's creation, the posts in the card's thread. Only our own bot's posts count (their `bot_id`, the
one auth.test names): anyone may put the same metadata on a post of their own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from linebot.v3.messaging import ApiException
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock, utc_now
from bot.config import Settings
from bot.delivery import Delivered, Final, Outcome, Retry
from bot.event_digest import draw_digest
from bot.line.api import REQUEST_TIMEOUT_SECONDS, LineApi
from bot.logs import fields
from bot.slack import notices
from bot.slack.card import card_text, case_blocks, case_booking
from bot.slack.errors import slack_error_code
from bot.slack.home_page import HomePage, queue_refresh
from bot.slack.mrkdwn import escape_cut
from bot.slack.staff_check import StaffCheck
from flows.texts import Texts
from storage import Database, Repositories
from storage.cases import UNSENT, Case
from storage.outbox import OutboxMessage
from storage.outbox_rows import (
    CardUpdate,
    CaseAnonymised,
    CaseCreated,
    CaseFollowup,
    CaseReopened,
    CaseUnsent,
    ChannelNote,
    ChannelPost,
    EventDigest,
    HomeRefresh,
    NoticeSheet,
    OpsAlert,
    ThreadNote,
    ThreadPurge,
    WardNoticeCopy,
)

# The rows about one case, delivered in its channel and thread.
CaseRow = (
    CaseCreated
    | CardUpdate
    | ChannelNote
    | ThreadNote
    | CaseFollowup
    | CaseReopened
    | CaseAnonymised
    | ThreadPurge
    | CaseUnsent
)

# A citizen's follow-up in a thread, escaped (it pings no one): well inside Slack's 40,000 characters.
MAX_THREAD_TEXT = 12_000
# Message metadata (event_type) of a case card, and of a thread post with the citizen's or an
# answer's words; the payload names the case: {"case_id": N}. No personal data.
CARD_EVENT = "madoguchi_case_card"
WORDS_EVENT = "madoguchi_case_words"
# How far before the case's creation its card's copies are looked for: our clock against Slack's.
CLOCK_SKEW_SECONDS = 600
HISTORY_PAGE = 200  # messages a page of conversations.history / replies (Slack advises at most 200)
MAX_PAGES = 100  # a window or thread beyond 20,000 messages is not searched further
MEDIA_NAMES = {"image": "画像", "video": "動画", "audio": "音声", "file": "ファイル"}

log = logging.getLogger("madoguchi.slack.sender")


class SlackSender:
    def __init__(
        self,
        client: AsyncWebClient,
        db: Database,
        settings: Settings,
        texts: Texts,
        line: LineApi | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self._clock = clock
        self._client = client
        self._line = line
        self._db = db
        self._settings = settings
        self._texts = texts
        self._last_post: dict[str, float] = {}
        self._channel_locks: dict[str, asyncio.Lock] = {}
        self._bot_id: str | None = None  # ours, from auth.test, once a search needs it
        staff = StaffCheck(client, settings.slack.staff, clock)
        self._home = HomePage(settings, db, client, texts, clock, staff)

    async def send(self, message: OutboxMessage) -> Outcome:
        row = message.row
        try:
            if isinstance(row, OpsAlert | ChannelPost):
                blocks = row.blocks if isinstance(row, ChannelPost) and row.blocks else None
                await self._post(channel=message.recipient, text=row.text, blocks=blocks)
                return Delivered("chat.postMessage")
            if isinstance(row, WardNoticeCopy | NoticeSheet):
                return await notices.deliver(
                    row,
                    message,
                    client=self._client,
                    post=self._post,
                    db=self._db,
                    settings=self._settings,
                    texts=self._texts,
                )
            if isinstance(row, HomeRefresh):
                return await self._home_refresh(message, row)
            if isinstance(row, EventDigest):
                return await self._event_digest(message, row)
            if not isinstance(row, CaseRow):
                return Final(f"not a Slack row: {row.kind}")
            case = await self._db.read.cases.get(row.case_id)
            if case is None:
                return Final("case no longer exists")
            return await self._send_case_row(message, row, case)
        except SlackApiError as exc:
            return _classify(exc)
        except ApiException as exc:
            return Retry(f"LINE content: HTTP {exc.status}")
        except (TimeoutError, aiohttp.ClientError) as exc:
            return Retry(type(exc).__name__)

    async def _home_refresh(self, message: OutboxMessage, row: HomeRefresh) -> Outcome:
        """One viewer's Home published again; nothing when another refresh of it waits behind this
        one (it is drawn later, so it covers this one). A row queued per case by an earlier version
        becomes a row per viewer of that case."""
        if row.user is None:
            if row.case_id is None:
                return Final("home refresh names nobody")
            case_id = row.case_id

            async def per_viewer(tx: Repositories) -> None:
                await queue_refresh(tx, case_id, self._clock())

            return Delivered("home_refresh: per viewer", record=per_viewer)
        if await self._db.read.outbox.count_pending(message.order_key) > 1:
            return Delivered("views.publish: by the next refresh")
        await self._home.refresh(row.user)
        return Delivered("views.publish")

    async def _send_case_row(self, message: OutboxMessage, row: CaseRow, case: Case) -> Outcome:
        if isinstance(row, CaseCreated):
            if case.slack_ts:
                return Delivered("chat.postMessage")  # posted before; the ts was recorded
            label = self._settings.category_label(case.category)
            earlier = await self._db.read.cases.earlier_numbers(case)
            response = await self._post(
                channel=message.recipient,
                text=card_text(case, label, self._texts),
                blocks=case_blocks(
                    case, label, self._texts, self._settings.center.tz, earlier, await self._booking(case)
                ),
                metadata=_tag(CARD_EVENT, case.id),
            )
            channel, ts = str(response["channel"]), str(response["ts"])

            async def record_card(tx: Repositories) -> None:
                await tx.cases.set_slack_message(case.id, channel, ts)
                if case.anonymised_at is None:  # the card shows the personal data to the channel
                    detail = {"surface": "card", "channel": channel}
                    await tx.audit.record("slack", "case.card_posted", "case", case.id, self._clock(), detail)

            return Delivered("chat.postMessage", record=record_card)
        if isinstance(row, ChannelNote):
            await self._post(channel=message.recipient, text=row.text)
            return Delivered("chat.postMessage")
        if not case.slack_channel or not case.slack_ts:
            return Retry("the case card is not posted yet")
        if isinstance(row, CardUpdate):
            label = self._settings.category_label(case.category)
            earlier = await self._db.read.cases.earlier_numbers(case)
            card: dict[str, Any] = {
                "text": card_text(case, label, self._texts),
                "blocks": case_blocks(
                    case, label, self._texts, self._settings.center.tz, earlier, await self._booking(case)
                ),
                "metadata": _tag(CARD_EVENT, case.id),
            }
            await self._client.chat_update(channel=case.slack_channel, ts=case.slack_ts, **card)
            if case.anonymised_at is not None:  # every other copy of the card, drawn the same
                copies = await _unless_refused(
                    self._card_copies(case, case.slack_channel, case.slack_ts), "conversations.history"
                )
                for ts in copies:
                    update = self._client.chat_update(channel=case.slack_channel, ts=ts, **card)
                    await _unless_refused_copy(update, case.id, "chat.update")
            return Delivered("chat.update")
        if isinstance(row, ThreadPurge):
            return await self._purge_thread(case.id, case.slack_channel, case.slack_ts)
        if isinstance(row, CaseUnsent):
            return await self._withdraw(row, case.slack_channel, case.slack_ts)
        if isinstance(row, CaseFollowup) and await self._unsent(row):
            return Delivered("none: unsent before it was posted")  # staff are told by its CaseUnsent
        if isinstance(row, CaseFollowup) and await self._upload_content(
            row, case.slack_channel, case.slack_ts
        ):
            return Delivered("files.upload")
        text = await self._thread_text(row, case)
        words = isinstance(row, CaseFollowup) or (isinstance(row, ThreadNote) and row.personal)
        response = await self._post(
            channel=case.slack_channel,
            thread_ts=case.slack_ts,
            text=text,
            metadata=_tag(WORDS_EVENT, case.id) if words else None,
        )
        if not isinstance(row, CaseFollowup):
            return Delivered("chat.postMessage")
        # The ts of a post that carries the citizen's words, so that deleting their data can
        # delete the post too.
        message_id, ts = row.message_id, str(response["ts"])

        async def record_post(tx: Repositories) -> None:
            await tx.cases.set_message_slack_ts(message_id, ts)

        return Delivered("chat.postMessage", record=record_post)

    async def _event_digest(self, message: OutboxMessage, row: EventDigest) -> Outcome:
        """One post of an event's day-before list, drawn from the roster as it is now; once posted,
        the next part (if the list needs one, with who is in it as part 1 cut it: `draw_digest`) is
        queued behind it in the transaction that marks this one sent: no part is lost or queued
        twice. A part is posted at least once, not exactly once: chat.postMessage has no retry key,
        so when Slack took it but its answer was lost (or the process stopped before the commit),
        the retry posts it again (part 1 redrawn from the roster as it is then)."""
        drawn = await draw_digest(self._db.read, row, self._clock(), self._settings, self._texts)
        if drawn is None:
            return Delivered("none: the event is cancelled, gone or has started")
        post, following = drawn
        await self._post(channel=message.recipient, text=post.text, blocks=post.blocks)
        if following is None:
            return Delivered("chat.postMessage")

        async def queue_next(tx: Repositories) -> None:
            await tx.outbox.add(following, message.recipient, self._clock(), order_key=message.order_key)

        return Delivered("chat.postMessage", record=queue_next)

    async def _booking(self, case: Case) -> str | None:
        return await case_booking(self._db.read, case, self._texts, self._settings.center.tz)

    async def _upload_content(self, row: CaseFollowup, channel: str, thread_ts: str) -> bool:
        """An image or file from the citizen, fetched from LINE and put in the case thread.

        False when there is nothing to upload, or LINE no longer has the content (it keeps it for a
        limited time): the thread then gets a line saying what arrived.
        """
        message = await self._db.read.cases.get_message(row.message_id)
        if message is None or message.kind == "text" or not message.line_message_id or self._line is None:
            return False
        try:
            content = await self._line.blob.get_message_content(
                message.line_message_id, _request_timeout=REQUEST_TIMEOUT_SECONDS
            )
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        await self._client.files_upload_v2(
            channel=channel,
            thread_ts=thread_ts,
            content=bytes(content),
            filename=f"{message.kind}-{message.line_message_id}",
            initial_comment=self._texts.get(
                "staff.followup_media", kind=MEDIA_NAMES.get(message.kind, message.kind)
            ),
        )
        return True

    async def _purge_thread(self, case_id: int, channel: str, thread_ts: str) -> Outcome:
        """Delete the thread posts that carried the citizen's or an answer's words (their data was
        deleted): those whose ts was recorded (posted before they were tagged, too), and every
        tagged one the thread holds, the copies whose ts we never learnt included."""
        posted = [(m.id, m.slack_ts) for m in await self._db.read.cases.messages(case_id) if m.slack_ts]
        # The recorded ones first: a workspace that refuses the search still loses those.
        for _, ts in posted:
            await _unless_gone(self._client.chat_delete(channel=channel, ts=ts))
        tagged = await _unless_refused(
            self._tagged(channel, thread_ts, WORDS_EVENT, case_id), "conversations.replies"
        )
        recorded = {ts for _, ts in posted}
        for ts in [ts for ts in dict.fromkeys(tagged) if ts not in recorded]:
            delete = self._client.chat_delete(channel=channel, ts=ts)
            await _unless_refused_copy(delete, case_id, "chat.delete")
        ids = [message_id for message_id, _ in posted]

        async def record(tx: Repositories) -> None:
            await tx.cases.clear_message_slack_ts(ids)

        return Delivered("chat.delete", record=record)

    async def _card_copies(self, case: Case, channel: str, recorded: str) -> list[str]:
        """The ts of the case's other cards in its channel: posts whose answer was lost (at-least-once)
        or whose row was cancelled in flight. They were all posted between the case's creation and
        the recorded card (the last post: none follows a success), so only that window is read."""
        oldest = case.created_at.timestamp() - CLOCK_SKEW_SECONDS

        async def page(cursor: str | None) -> Any:
            return await self._client.conversations_history(
                channel=channel,
                oldest=f"{max(oldest, 0.0):.6f}",
                latest=recorded,
                inclusive=True,
                include_all_metadata=True,
                limit=HISTORY_PAGE,
                cursor=cursor,
            )

        found = await self._our_tagged(page, "conversations.history", CARD_EVENT, case.id)
        return [ts for ts in found if ts != recorded]

    async def _tagged(self, channel: str, thread_ts: str, event: str, case_id: int) -> list[str]:
        """The ts of our posts in a thread tagged `event` for this case (none when the thread is gone)."""

        async def page(cursor: str | None) -> Any:
            try:
                return await self._client.conversations_replies(
                    channel=channel,
                    ts=thread_ts,
                    include_all_metadata=True,
                    limit=HISTORY_PAGE,
                    cursor=cursor,
                )
            except SlackApiError as exc:
                if exc.response.get("error") == "thread_not_found":  # the card deleted by hand
                    return None
                raise

        return await self._our_tagged(page, "conversations.replies", event, case_id)

    async def _our_tagged(
        self, page: Callable[[str | None], Awaitable[Any]], method: str, event: str, case_id: int
    ) -> list[str]:
        """The ts of our bot's posts tagged `event` for this case, read page by page (MAX_PAGES at
        most, logged when cut short); `page` gives None when there is nothing (more) to read."""
        bot_id = await self._own_bot_id()
        if bot_id is None:
            return []
        found: list[str] = []
        cursor = None
        for _ in range(MAX_PAGES):
            answer = await page(cursor)
            if answer is None:
                break
            messages = answer.get("messages") or []
            found += [str(m["ts"]) for m in messages if _tagged_for(m, event, case_id, bot_id)]
            cursor = (answer.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        else:
            _search_cut_short(case_id, method)
        return list(dict.fromkeys(found))

    async def _own_bot_id(self) -> str | None:
        """Our bot's id, which every post made with our (bot) token carries as `bot_id`; None, logged
        like a refused search, when auth.test names none: then no post can be told to be ours."""
        if self._bot_id is None:
            bot_id = (await self._client.auth_test()).get("bot_id")
            if not isinstance(bot_id, str) or not bot_id:
                refused = fields(method="auth.test", error="no_bot_id")
                log.warning("slack.copies_search_refused", extra=refused)
                return None
            self._bot_id = bot_id
        return self._bot_id

    async def _unsent(self, row: CaseFollowup) -> bool:
        message = await self._db.read.cases.get_message(row.message_id)
        return message is not None and message.kind == UNSENT

    async def _withdraw(self, row: CaseUnsent, channel: str, thread_ts: str) -> Outcome:
        """The citizen unsent a follow-up: its post (when it went as text) now reads neutrally, and a
        line in the thread tells staff (an edit alone notifies no one). Both are safe to repeat."""
        message = await self._db.read.cases.get_message(row.message_id)
        note = "unsend.note"
        if message is not None and message.slack_ts:
            try:
                await self._client.chat_update(
                    channel=channel, ts=message.slack_ts, text=self._texts.get("unsend.post")
                )
                note = "unsend.note_replaced"
            except SlackApiError as exc:
                if exc.response.get("error") != "message_not_found":  # deleted by hand already
                    raise
        await self._post(channel=channel, thread_ts=thread_ts, text=self._texts.get(note))
        return Delivered("chat.postMessage")

    async def _thread_text(self, row: CaseRow, case: Case) -> str:
        if isinstance(row, ThreadNote):
            return row.text
        if isinstance(row, CaseReopened):
            return self._texts.get("staff.citizen_reopened")
        if isinstance(row, CaseAnonymised):
            reason = case.anonymised_reason or "request"
            return self._texts.get(f"staff.anonymised_note_{reason}")
        assert isinstance(row, CaseFollowup)
        message = await self._db.read.cases.get_message(row.message_id)
        if message is None:
            return ""
        if message.kind == "text":
            return self._texts.get("staff.followup", text=escape_cut(message.body, MAX_THREAD_TEXT))
        return self._texts.get("staff.followup_media", kind=MEDIA_NAMES.get(message.kind, message.kind))

    async def _post(self, **arguments: Any) -> Any:
        """chat.postMessage, spaced about a second apart per channel."""
        channel = str(arguments["channel"])
        lock = self._channel_locks.setdefault(channel, asyncio.Lock())
        async with lock:
            wait = (
                self._last_post.get(channel, 0.0)
                + self._settings.slack.post_interval_seconds
                - time.monotonic()
            )
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                return await self._client.chat_postMessage(**arguments)
            finally:
                self._last_post[channel] = time.monotonic()


def _tag(event: str, case_id: int) -> dict[str, Any]:
    """Message metadata naming the case a post belongs to (what deletion searches Slack for)."""
    return {"event_type": event, "event_payload": {"case_id": case_id}}


def _tagged_for(message: Any, event: str, case_id: int, bot_id: str) -> bool:
    """A post of our bot's carrying `event` for this case: another app's post, or a person's, may carry
    the same metadata, and is not ours to change (cant_update_message, cant_delete_message)."""
    if not isinstance(message, dict) or message.get("bot_id") != bot_id:
        return False
    metadata = message.get("metadata")
    if not isinstance(metadata, dict) or metadata.get("event_type") != event:
        return False
    payload = metadata.get("event_payload")
    return isinstance(payload, dict) and payload.get("case_id") == case_id


# What Slack answers when the app may not read a channel's history: a bot token refused the
# method, a scope removed from the installation, the bot taken out of the channel.
SEARCH_REFUSED = frozenset({"not_allowed_token_type", "missing_scope", "not_in_channel", "no_permission"})


async def _unless_refused(search: Awaitable[list[str]], method: str) -> list[str]:
    """The copies a search found; none when Slack refuses the app the search (logged, so that staff
    can look for copies by hand), while other failures are retried as any call's are."""
    try:
        return await search
    except SlackApiError as exc:
        error = exc.response.get("error") if isinstance(exc.response.data, dict) else None
        if error not in SEARCH_REFUSED:
            raise
        log.warning("slack.copies_search_refused", extra=fields(method=method, error=error))
        return []


async def _unless_gone(call: Awaitable[Any]) -> None:
    """A change to one of our posts that someone has deleted by hand already: nothing left to do."""
    try:
        await call
    except SlackApiError as exc:
        if exc.response.get("error") != "message_not_found":
            raise


# What Slack answers for a post that is gone, or that is not ours to change.
NOT_TO_CHANGE = frozenset({"message_not_found", "cant_delete_message", "cant_update_message"})


async def _unless_refused_copy(call: Awaitable[Any], case_id: int, method: str) -> None:
    """A change to a copy the search found: one Slack refuses is nothing to do for that copy (logged),
    never a failure of the whole deletion, which would leave the copies after it as they are."""
    try:
        await call
    except SlackApiError as exc:
        error = slack_error_code(exc)
        if error not in NOT_TO_CHANGE:
            raise
        if error != "message_not_found":  # gone is what we wanted; a refusal is worth a look
            log.warning("slack.copy_refused", extra=fields(case_id=case_id, method=method, error=error))


def _search_cut_short(case_id: int, method: str) -> None:
    """A search that stopped at MAX_PAGES: copies beyond it stay, so staff should know."""
    log.warning("slack.copies_search_truncated", extra=fields(case_id=case_id, method=method))


def _classify(exc: SlackApiError) -> Outcome:
    # A body that says it is JSON but is not leaves the SDK's raw HTTP response here (aiohttp's:
    # `status`, no `status_code`): a proxy's error page, retried like any answer of its status.
    raw = getattr(exc.response, "status_code", None) or getattr(exc.response, "status", None)
    status = raw if isinstance(raw, int) else 0
    # Only Slack's error codes reach the log, ops alerts and last_error (bot/slack/errors.py).
    error = slack_error_code(exc)
    if status == 429:
        headers = getattr(exc.response, "headers", None) or {}
        retry_after = headers.get("Retry-After") or headers.get("retry-after")
        return Retry(f"HTTP 429: {error or 'ratelimited'}", after=_seconds(retry_after))
    if status >= 500:
        return Retry(f"HTTP {status}")
    return Final(f"slack: {error or status}")


def _seconds(value: object) -> float | None:
    """A Retry-After header's seconds; None when it is missing or not a number of seconds."""
    try:
        seconds = float(str(value))
    except ValueError:
        return None
    return seconds if 0 <= seconds < 86_400 else None
