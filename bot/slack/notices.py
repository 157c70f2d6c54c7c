"""Network-meeting notices in Slack: the staff's form and answer sheet, and the wards' copies.

Staff: `/madoguchi notice` opens the form; each notice's answer sheet in the staff channel
(`[ward_notices] staff_channel`) is updated in place and carries 変更 (the form again) and 中止 (after a
confirmation). Only staff may: the configured `[slack] staff` list, or else the members of the staff
channel.

Wards: each ward's copy in its own channel (often a Slack Connect channel, with people from outside the
center, who are not staff) has 出席 / 欠席 / 未定 buttons and a select for the number attending. Anyone
in that channel may answer for the ward, but only on that ward's own copy: a press anywhere else, or a
value that names another ward, is refused to the presser alone and recorded nowhere. Presses are
deduplicated on Slack's trigger and action ids, and an answer already on record changes nothing.

Titles, places and agendas are staff text: escaped before they go into mrkdwn.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import NETWORK_MEETING, Settings
from bot.delivery import Delivered, Final, Outcome
from bot.event_import import MAX_URL, FieldError, when
from bot.logs import fields
from bot.notices import FIELDS, MAX_AGENDA, MAX_TITLE, MAX_VENUE, Notices, draft_from_fields
from bot.slack.events import ChangedMeanwhile
from bot.slack.mrkdwn import escape, escape_cut
from bot.slack.payload import row_id, view_metadata
from bot.slack.staff_desk import StaffDesk
from bot.slack.tell import Ack, open_button_view, open_command_view, tell
from flows import notices as flow
from flows.dates import moment_text
from flows.texts import Texts
from storage import Database, Repositories
from storage.events import Event
from storage.notices import Notice, NoticeRecipient
from storage.outbox import OutboxMessage
from storage.outbox_rows import NoticeSheet, WardNoticeCopy
from storage.wards import WardCenterRecord

log = logging.getLogger("madoguchi.slack")

Post = Callable[..., Awaitable[Any]]
MAX_HEADER = 150
FIELD_LIMITS = {
    "title": MAX_TITLE,
    "venue": MAX_VENUE,
    "url": MAX_URL,
    "materials": MAX_URL,
    "agenda": MAX_AGENDA,
}


class NoticeDesk(StaffDesk):
    @functools.cached_property
    def _notices(self) -> Notices:
        return Notices(self._settings, self._texts)

    def register(self, app: AsyncApp) -> None:
        app.action(re.compile(r"notice_answer_(attend|absent|maybe)"))(self._answer)
        app.action("notice_attendees")(self._answer)
        app.action("notice_edit")(self._edit_button)
        app.action("notice_from_event")(self._from_event_button)
        app.action("notice_cancel")(self._cancel_button)
        app.view("notice_save")(self._save)
        app.view("notice_cancel_confirm")(self._cancel_confirm)

    async def _refusal(self, actor: str) -> str | None:
        return await self._staff.refusal(actor, self._settings.notices_channel, self._texts, "notices")

    # -- staff: /madoguchi notice, 変更, 中止 -------------------------------------------------------------

    async def command(self, ack: Ack, command: dict[str, Any]) -> None:
        refusal = await self._refusal(str(command["user_id"]))
        if refusal is not None:
            await ack(text=refusal)
            return
        failed = self._texts.get("staff_view.open_failed")
        await open_command_view(self._client, ack, command, self.form_view(None), failed)

    async def _edit_button(self, ack: Ack, body: dict[str, Any]) -> None:
        await ack()
        await self._open(body, lambda: self._notice_view(body, self.form_view))

    async def _from_event_button(self, ack: Ack, body: dict[str, Any]) -> None:
        """区センターへ通知 on a network meeting in the staff's event list: the notice form, filled in
        from the event (staff add the answer deadline)."""
        await ack()
        await self._open(body, lambda: self._form_from_event(row_id(body["actions"][0].get("value"))))

    async def _cancel_button(self, ack: Ack, body: dict[str, Any]) -> None:
        await ack()
        await self._open(body, lambda: self._notice_view(body, self._cancel_view))

    async def _open(self, body: dict[str, Any], view: Callable[[], Awaitable[dict[str, Any] | None]]) -> None:
        """The staff check first (it can take seconds), then the row is read: a notice or event
        cancelled during the check is not shown as if open."""
        refusal = await self._refusal(str(body["user"]["id"]))
        shown = self.message_view(refusal) if refusal is not None else await view()
        if shown is None:
            shown = self.message_view(self._texts.get("notices.not_found"))
        await open_button_view(self._client, body, shown, self._texts.get("staff_view.open_failed"))

    async def _notice_view(
        self, body: dict[str, Any], view: Callable[[Notice], dict[str, Any]]
    ) -> dict[str, Any] | None:
        notice = await self._db.read.notices.get(row_id(body["actions"][0].get("value")))
        return view(notice) if notice is not None and _open(notice) else None

    async def _form_from_event(self, event_id: int) -> dict[str, Any] | None:
        event = await self._db.read.events.get(event_id)
        if event is None or not _open_meeting(event):
            return None
        tz = self._settings.center.tz
        filled = {
            "title": event.title,
            "at": when(event.starts_at, tz),
            "venue": event.venue,
            "url": event.online_url,
            "agenda": event.description,
        }
        return self.form_view(None, filled, event_id=event.id)

    def form_view(
        self, notice: Notice | None, filled: dict[str, str] | None = None, event_id: int | None = None
    ) -> dict[str, Any]:
        """The notice form: a new one (`filled` from the network-meeting event `event_id`, checked
        again on sending), or `notice` to change."""
        texts = self._texts
        tz = self._settings.center.tz
        current: dict[str, str] = dict(filled or {})
        if notice is not None:
            current = {
                "title": notice.title,
                "at": when(notice.meeting_at, tz),
                "deadline": when(notice.answer_by, tz),
                "venue": notice.venue,
                "url": notice.online_url,
                "agenda": notice.agenda,
                "materials": notice.materials_url,
            }
        blocks = []
        for name in FIELDS:
            element: dict[str, Any] = {
                "type": "plain_text_input",
                "action_id": "value",
                "multiline": name == "agenda",
            }
            if name in FIELD_LIMITS:
                element["max_length"] = FIELD_LIMITS[name]
            if current.get(name):
                # Slack refuses a view whose initial value is longer than the field allows.
                element["initial_value"] = current[name][: FIELD_LIMITS.get(name, 3000)]
            if name in ("at", "deadline"):
                element["placeholder"] = _plain("2026-12-01 14:00")
            label = texts.get("notices.field_meeting_at" if name == "at" else f"notices.field_{name}")
            block: dict[str, Any] = {
                "type": "input",
                "block_id": name,
                "label": _plain(label),
                "element": element,
                "optional": name not in ("title", "at", "deadline"),
            }
            if name in ("at", "venue"):
                block["hint"] = _plain(
                    texts.get("notices.hint_time" if name == "at" else "notices.hint_place")
                )
            blocks.append(block)
        return {
            "type": "modal",
            "callback_id": "notice_save",
            # The version the edit form shows: a save over someone else's later change is refused.
            "private_metadata": json.dumps(
                {
                    "notice_id": notice.id if notice else None,
                    **({"updated_at": _version(notice)} if notice else {}),
                    **({"event_id": event_id} if event_id else {}),
                }
            ),
            "title": _plain(texts.get("notices.create_title" if notice is None else "notices.edit_title")),
            "submit": _plain(texts.get("notices.send" if notice is None else "notices.save")),
            "close": _plain(texts.get("notices.back")),
            "blocks": blocks,
        }

    def _cancel_view(self, notice: Notice) -> dict[str, Any]:
        text = self._texts.get(
            "notices.cancel_confirm", title=escape_cut(notice.title, 300), when=self._moment(notice)
        )
        return {
            "type": "modal",
            "callback_id": "notice_cancel_confirm",
            "private_metadata": json.dumps({"notice_id": notice.id}),
            "title": _plain(self._texts.get("notices.cancel_title")),
            "submit": _plain(self._texts.get("notices.cancel_submit")),
            "close": _plain(self._texts.get("notices.back")),
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
        }

    def message_view(self, text: str) -> dict[str, Any]:
        return {
            "type": "modal",
            "title": _plain(self._texts.get("notices.modal_title")),
            "close": _plain(self._texts.get("notices.close")),
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
        }

    def _moment(self, notice: Notice) -> str:
        assert notice.meeting_at is not None
        return moment_text(self._texts, notice.meeting_at, self._settings.center.tz)

    async def _save(self, ack: Ack, body: dict[str, Any]) -> None:
        view = body["view"]
        actor = str(body["user"]["id"])
        refusal = await self._refusal(actor)
        if refusal is not None:
            await ack(response_action="errors", errors={"title": refusal})
            return
        metadata = view_metadata(view)
        notice_id = row_id(metadata.get("notice_id"))
        event_id = row_id(metadata.get("event_id"))  # 0: not started from an event
        now = self._clock()
        try:
            draft = draft_from_fields(_values(view), self._settings, now)
        except FieldError as exc:
            block = exc.field if exc.field in FIELDS else "title"
            reason = self._texts.get("notices.invalid", reason=exc.message)
            await ack(response_action="errors", errors={block: reason})
            return
        try:
            async with self._db.transaction() as tx:
                # A form filled in from a meeting sends nothing once that meeting is cancelled (read here,
                # in the transaction: a cancellation since the form opened is seen).
                withdrawn = bool(event_id) and not _open_meeting(await tx.events.get(event_id))
                # A submission Slack retries (same view) sends nothing twice.
                first = not withdrawn and await tx.inbox.record_handled(
                    "slack", f"view:{view.get('id')}:notice", "slack:notices", now
                )
                if not first:
                    notice = None
                elif notice_id:
                    current = await tx.notices.get(notice_id)
                    if _open(current) and _version(current) != str(metadata.get("updated_at") or ""):
                        raise ChangedMeanwhile  # saved by someone since this form opened: would undo it
                    notice = await self._notices.change(tx, notice_id, draft, f"slack:{actor}", now)
                else:
                    notice = await self._notices.send(tx, draft, f"slack:{actor}", now)
                count = len(await tx.notices.recipients(notice.id)) if notice is not None else 0
        except ChangedMeanwhile:  # rolled back: nothing recorded, nothing sent
            changed = self._texts.get("notices.changed_meanwhile")
            await ack(response_action="errors", errors={"title": changed})
            return
        if withdrawn:
            await ack(response_action="errors", errors={"title": self._texts.get("notices.event_cancelled")})
            return
        if notice is None:
            key = "notices.not_found" if notice_id or not first else "notices.no_wards"
            await ack(response_action="update", view=self.message_view(self._texts.get(key)))
            return
        self._on_queued()
        title = escape_cut(notice.title, 300)
        text = (
            self._texts.get("notices.saved", title=title)
            if notice_id
            else self._texts.get(
                "notices.sent", title=title, count=count, channel=escape(self._settings.notices_channel)
            )
        )
        await ack(response_action="update", view=self.message_view(text))

    async def _cancel_confirm(self, ack: Ack, body: dict[str, Any]) -> None:
        view = body["view"]
        actor = str(body["user"]["id"])
        refusal = await self._refusal(actor)
        if refusal is not None:
            await ack(response_action="update", view=self.message_view(refusal))
            return
        notice_id = row_id(view_metadata(view).get("notice_id"))
        async with self._db.transaction() as tx:
            notice = await self._notices.cancel(tx, notice_id, f"slack:{actor}", self._clock())
        if notice is None:
            await ack(response_action="update", view=self.message_view(self._texts.get("notices.not_found")))
            return
        self._on_queued()
        done = self._texts.get("notices.cancel_done", title=escape_cut(notice.title, 300))
        await ack(response_action="update", view=self.message_view(done))

    # -- wards: answers on their copy ------------------------------------------------------------------

    async def _answer(self, ack: Ack, body: dict[str, Any]) -> None:
        await ack()
        action = body["actions"][0]
        raw = action.get("value") or (action.get("selected_option") or {}).get("value")
        value = flow.AnswerValue.unpack(raw)
        actor = str(body["user"]["id"])
        channel = str((body.get("channel") or {}).get("id") or "")
        message_ts = str((body.get("container") or {}).get("message_ts") or "")
        if value is None or not channel:
            log.info("slack.notice_answer_ignored", extra=fields(reason="not our value"))
            return
        ward = await self._db.read.wards.get(value.ward_id)
        recipient = await self._db.read.notices.recipient(value.notice_id, value.ward_id)
        if (
            ward is None
            or recipient is None
            or recipient.slack_channel != channel
            or recipient.slack_ts != message_ts
        ):
            # Pressed anywhere but on that ward's own copy in its own channel.
            log.info(
                "slack.notice_answer_refused", extra=fields(notice=value.notice_id, reason="other place")
            )
            await tell(self._client, actor, channel, self._texts.get("notices.refused_other_ward"))
            return
        now = self._clock()
        dedupe = f"notice:{body.get('trigger_id')}:{action.get('action_ts')}"
        async with self._db.transaction() as tx:
            if not await tx.inbox.record_handled("slack", dedupe, f"slack:notice:{value.notice_id}", now):
                log.info("slack.duplicate", extra=fields(notice=value.notice_id))
                return
            result = await self._notices.answer(tx, value, ward, actor, "slack", channel, now)
        if result.refused is not None:
            await tell(self._client, actor, channel, escape(result.refused))  # plain text, with the title
            return
        if result.changed:
            self._on_queued()


# -- the messages ------------------------------------------------------------------------------------


def copy_message(
    texts: Texts, notice: Notice, ward: WardCenterRecord, recipient: NoticeRecipient, settings: Settings
) -> tuple[str, list[dict[str, Any]]]:
    """A ward's copy as it is now: the notice, the ward's current answer, and (unless cancelled) the
    answer buttons and the select for the number attending."""
    tz = settings.center.tz
    heading = "notices.heading_changed" if notice.status == "changed" else "notices.heading_new"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(_cut(notice.title, MAX_HEADER))},
        _context(texts.get(heading, ward=escape(ward.ward))),
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": escape_cut("\n".join(flow.details(texts, notice, tz)), 3000)},
        },
    ]
    if notice.status == "cancelled":
        blocks.append(_section(texts.get("notices.copy_cancelled")))
        return texts.get("notices.copy_cancelled"), blocks
    if recipient.answer is None:
        current = texts.get("notices.current_none")
    else:
        assert recipient.answered_at is not None
        current = texts.get(
            "notices.current",
            answer=flow.answer_text(texts, recipient.answer, recipient.attendees),
            who=_who(texts, recipient),
            when=moment_text(texts, recipient.answered_at, tz),
        )
    blocks.append(_section(current))
    options = [
        {
            "text": _plain(texts.get("notices.count_option", count=n)),
            "value": flow.AnswerValue(notice.id, ward.id, "attend", n).pack(),
        }
        for n in range(1, flow.MAX_ATTENDEES + 1)
    ]
    select: dict[str, Any] = {
        "type": "static_select",
        "action_id": "notice_attendees",
        "placeholder": _plain(texts.get("notices.count_placeholder")),
        "options": options,
    }
    if recipient.answer == "attend" and recipient.attendees:
        select["initial_option"] = options[min(recipient.attendees, flow.MAX_ATTENDEES) - 1]
    buttons = [
        {
            "type": "button",
            "action_id": f"notice_answer_{choice.value.rsplit(':', 1)[-1]}",
            "text": _plain(choice.label),
            "value": choice.value,
            **({"style": "primary"} if choice.value.endswith(":attend") else {}),
        }
        for choice in flow.answer_choices(texts, notice.id, ward.id)
    ]
    blocks.append({"type": "actions", "block_id": "notice_answer", "elements": [*buttons, select]})
    # Slack reads markup in a message's text too: the title is escaped there as in the blocks.
    fallback = f"{escape_cut(notice.title, MAX_HEADER)} — {current}"
    return fallback, blocks


def sheet_message(
    texts: Texts, notice: Notice, rows: list[tuple[NoticeRecipient, WardCenterRecord]], settings: Settings
) -> tuple[str, list[dict[str, Any]]]:
    """The staff's answer sheet: the counts in one line (also the message's text), then each ward."""
    names = {ward.id: ward.ward for _, ward in rows}
    summary = escape(flow.sheet_summary(texts, flow.tally([r for r, _ in rows], names)))
    lines = []
    for recipient, ward in rows:
        line = texts.get(
            "notices.sheet_ward",
            ward=escape(ward.ward),
            answer=flow.answer_text(texts, recipient.answer, recipient.attendees),
        )
        if recipient.answer is not None:
            line += texts.get("notices.sheet_via", who=_who(texts, recipient))
        lines.append(line)
    # Only the title is escaped: the text around it is ours, bold included.
    title = flow.sheet_title(texts, replace(notice, title=escape(notice.title)), settings.center.tz)
    blocks: list[dict[str, Any]] = [
        _section(title),
        _section(summary),
        _section(_cut("\n".join(lines), 3000) or summary),
    ]
    if notice.status != "cancelled":
        blocks.append(
            {
                "type": "actions",
                "block_id": "notice_manage",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "notice_edit",
                        "text": _plain(texts.get("notices.edit")),
                        "value": str(notice.id),
                    },
                    {
                        "type": "button",
                        "action_id": "notice_cancel",
                        "text": _plain(texts.get("notices.cancel")),
                        "value": str(notice.id),
                        "style": "danger",
                    },
                ],
            }
        )
    return summary, blocks


async def deliver(
    row: WardNoticeCopy | NoticeSheet,
    message: OutboxMessage,
    *,
    client: AsyncWebClient,
    post: Post,
    db: Database,
    settings: Settings,
    texts: Texts,
) -> Outcome:
    """Post a ward's copy or the sheet once (its ts recorded), afterwards update it in place. Either is
    drawn as it is now, so however many rows queue up, the last shows the latest answer."""
    read = db.read
    notice = await read.notices.get(row.notice_id)
    if notice is None:
        return Final("notice no longer exists")
    if isinstance(row, WardNoticeCopy):
        recipient = await read.notices.recipient(row.notice_id, row.ward_center_id)
        ward = await read.wards.get(row.ward_center_id)
        if recipient is None or ward is None:
            return Final("ward no longer receives this notice")
        text, blocks = copy_message(texts, notice, ward, recipient, settings)
        channel, ts = recipient.slack_channel, recipient.slack_ts
    else:
        rows = []
        for recipient in await read.notices.recipients(row.notice_id):
            ward = await read.wards.get(recipient.ward_center_id)
            if ward is not None:
                rows.append((recipient, ward))
        text, blocks = sheet_message(texts, notice, rows, settings)
        channel, ts = notice.sheet_channel, notice.sheet_ts
    if channel and ts:
        await client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
        return Delivered("chat.update")
    response = await post(channel=message.recipient, text=text, blocks=blocks)
    posted_channel, posted_ts = str(response["channel"]), str(response["ts"])

    async def record(tx: Repositories) -> None:
        if isinstance(row, WardNoticeCopy):
            await tx.notices.set_slack_copy(row.notice_id, row.ward_center_id, posted_channel, posted_ts)
        else:
            await tx.notices.set_sheet(row.notice_id, posted_channel, posted_ts)

    return Delivered("chat.postMessage", record=record)


def _who(texts: Texts, recipient: NoticeRecipient) -> str:
    if recipient.answered_via == "slack" and recipient.answered_by:
        return f"<@{escape(recipient.answered_by)}>"
    return texts.get("notices.via_line")


def _open(notice: Notice | None) -> bool:
    return notice is not None and notice.status != "cancelled"


def _version(notice: Notice | None) -> str:
    """A notice's version as its edit form holds it: when it was last saved."""
    return notice.updated_at.isoformat() if notice is not None and notice.updated_at else ""


def _open_meeting(event: Event | None) -> bool:
    return event is not None and event.kind == NETWORK_MEETING and event.status != "cancelled"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _values(view: dict[str, Any]) -> dict[str, str]:
    state = ((view.get("state") or {}).get("values")) or {}
    found: dict[str, str] = {}
    for block_id, actions in state.items():
        if block_id in FIELDS:
            found[block_id] = str(((actions or {}).get("value") or {}).get("value") or "")
    return found
