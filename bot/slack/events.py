"""Events in Slack, for staff: create and edit in a modal, cancel after a confirmation, list them.

`/madoguchi event` (and the App Home button) opens the form; `/madoguchi events` lists what is coming
with 編集 and 中止 buttons. Only staff may: the configured `[slack] staff` list, or else the members of
the default channel. The form's fields are checked by the same rules as an imported file
(bot/event_import.py), an error shown under its field. Times are typed in the center's timezone.
Cancelling goes through `on_cancel` (the reminders' cancel_event, which tells registrants); a changed
start through `on_reschedule`; both default to storage alone. Titles and places go into mrkdwn escaped.
A consultation session's slots are planned in the form (how many, minutes each, break, advisors) and
listed with their bookings (the linked case's number, nothing personal); a change that would drop or
move a booked slot is refused under the slots field, naming them.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.config import NETWORK_MEETING
from bot.event_import import COLUMNS, FieldError, draft_from_fields, kind_label, reminders_text, when
from bot.logs import fields
from bot.slack.mrkdwn import escape, escape_cut
from bot.slack.payload import row_id, view_metadata
from bot.slack.staff_desk import StaffDesk
from bot.slack.tell import Ack, open_button_view, open_command_view
from flows.slots import slot_moment, slot_time
from storage import Repositories
from storage.events import Change, Event, EventDraft
from storage.slots import SeatsWithoutSlots, Slot, SlotsBooked

log = logging.getLogger("madoguchi.slack")

# What cancelling an event does in the caller's transaction (the reminders' cancel_event: tells
# registrants and cancels reminders), and what a changed start does (reschedules reminders).
OnCancel = Callable[[Repositories, int], Awaitable[object]]
OnReschedule = Callable[[Repositories, int], Awaitable[object]]

LIST_EVENTS = 15  # a message holds 50 blocks: two per event, and the header
TEXT_FIELDS = ("title", "starts_at", "ends_at", "venue", "online_url", "capacity", "registration_deadline")
FIELD_LIMITS = {
    "title": 150,
    "description": 3000,
    "venue": 200,
    "online_url": 500,
    "reminders": 100,
    "capacity": 10,
    "slots": 3,
    "slot_minutes": 4,
    "slot_break": 4,
    "slot_advisors": 100,
}
# The slot plan's fields: their labels and hints are in ja.toml [slots].
SLOT_FIELDS = ("slots", "slot_minutes", "slot_break", "slot_advisors")


class StartPassed(Exception):
    """The form's start is already past (a mistyped year, most often around New Year)."""


class ChangedMeanwhile(Exception):
    """Someone saved the event after this form opened: saving it would undo their change."""


class EventDesk(StaffDesk):
    # Set by the runtime: what a cancelled or moved event does to its reminders and registrants.
    on_cancel: OnCancel | None = None
    on_reschedule: OnReschedule | None = None

    def register(self, app: AsyncApp) -> None:
        app.action("event_create")(self._create_button)
        app.action("event_edit")(self._edit_button)
        app.action("event_cancel")(self._cancel_button)
        app.view("event_save")(self._save)
        app.view("event_cancel_confirm")(self._cancel_confirm)

    # -- who may ---------------------------------------------------------------------------------

    async def refusal(self, actor: str) -> str | None:
        return await self._staff.refusal(actor, self._settings.slack.default_channel, self._texts, "events")

    # -- /madoguchi event, /madoguchi events -------------------------------------------------------

    async def command(self, ack: Ack, command: dict[str, Any], words: list[str]) -> None:
        actor = str(command["user_id"])
        refusal = await self.refusal(actor)
        if refusal is not None:
            await ack(text=refusal)
            return
        if words[:1] == ["event"]:
            failed = self._texts.get("staff_view.open_failed")
            await open_command_view(self._client, ack, command, self.form_view(None), failed)
            return
        events = await self._db.read.events.listing(self._clock(), limit=LIST_EVENTS + 1)
        taken = {e.id: await self._db.read.registrations.seats_taken(e.id) for e in events}
        slots = {e.id: await self._db.read.slots.for_event(e.id) for e in events[:LIST_EVENTS] if e.has_slots}
        blocks = self.list_blocks(events, taken, slots)
        await ack(text=self._texts.get("staff_events.list_title"), blocks=blocks)

    def list_blocks(
        self, events: list[Event], taken: dict[int, int], slots: dict[int, list[Slot]] | None = None
    ) -> list[dict[str, Any]]:
        texts = self._texts
        blocks: list[dict[str, Any]] = [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": texts.get("staff_events.list_title")},
                "accessory": _button(texts.get("staff_events.create"), "event_create", "new"),
            }
        ]
        if not events:
            blocks.append(
                {"type": "context", "elements": [{"type": "mrkdwn", "text": texts.get("home.none")}]}
            )
        for event in events[:LIST_EVENTS]:
            line = self._line(event, taken)
            for slot in (slots or {}).get(event.id, []):
                line += "\n" + self._slot_line(slot)
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": line}})
            blocks.append(
                {
                    "type": "actions",
                    "block_id": f"event_{event.id}",
                    "elements": [
                        _button(texts.get("staff_events.edit"), "event_edit", str(event.id)),
                        {
                            **_button(texts.get("staff_events.cancel"), "event_cancel", str(event.id)),
                            "style": "danger",
                        },
                        # A network meeting goes to the ward centers as a notice (bot/slack/notices.py).
                        *(
                            [_button(texts.get("staff_events.notice"), "notice_from_event", str(event.id))]
                            if event.kind == NETWORK_MEETING and event.status != "cancelled"
                            else []
                        ),
                        # 告知する (bot/slack/announce.py): the modal says why not when it cannot be.
                        *(
                            [_button(texts.get("staff_announce.button"), "event_announce", str(event.id))]
                            if event.public and event.status == "open"
                            else []
                        ),
                    ],
                }
            )
        if len(events) > LIST_EVENTS:
            more = texts.get("staff_events.more")
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": more}]})
        return blocks

    def _line(self, event: Event, taken: dict[int, int]) -> str:
        tz = self._settings.center.tz
        capacity = event.capacity if event.capacity is not None else self._texts.get("home.unlimited")
        line = self._texts.get(
            "staff_events.line",
            when=when(event.starts_at, tz),
            title=escape_cut(event.title, 300),
            kind=escape(kind_label(self._settings, event.kind)),
            taken=taken.get(event.id, 0),
            capacity=capacity,
        )
        if not event.public:
            line += " " + self._texts.get("staff_events.internal")
        return line

    def _slot_line(self, slot: Slot, with_day: bool = False) -> str:
        """A slot and its booking: the linked case's number at most (no names: see threat-model.md)."""
        texts = self._texts
        if slot.free:
            status = texts.get("slots.staff_free")
        elif slot.case_number:
            status = texts.get("slots.staff_booked_case", number=slot.case_number)
        else:
            status = texts.get("slots.staff_booked")
        shown = (slot_moment if with_day else slot_time)(texts, slot, self._settings.center.tz)
        return texts.get("slots.staff_slot", slot=escape(shown), status=status)

    # -- buttons ---------------------------------------------------------------------------------

    async def _create_button(self, ack: Ack, body: dict[str, Any]) -> None:
        await ack()
        await self._open(body, lambda: self._form_for(None))

    async def _edit_button(self, ack: Ack, body: dict[str, Any]) -> None:
        await ack()
        await self._open(body, lambda: self._form_for(row_id(body["actions"][0].get("value"))))

    async def _cancel_button(self, ack: Ack, body: dict[str, Any]) -> None:
        await ack()
        await self._open(body, lambda: self._cancel_view(row_id(body["actions"][0].get("value"))))

    async def _open(self, body: dict[str, Any], view: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        """A modal for staff; anyone else sees why not, in a modal too (App Home has no channel)."""
        refusal = await self.refusal(str(body["user"]["id"]))
        shown = self.notice_view(refusal) if refusal is not None else await view()
        await open_button_view(self._client, body, shown, self._texts.get("staff_view.open_failed"))

    async def _form_for(self, event_id: int | None) -> dict[str, Any]:
        if event_id is None:
            return self.form_view(None)
        event = await self._db.read.events.get(event_id)
        if event is None or event.status == "cancelled":
            return self.notice_view(self._texts.get("staff_events.not_found"))
        return self.form_view(event)

    async def _cancel_view(self, event_id: int) -> dict[str, Any]:
        event = await self._db.read.events.get(event_id)
        if event is None or event.status == "cancelled":
            return self.notice_view(self._texts.get("staff_events.not_found"))
        registrants = await self._db.read.registrations.seats_taken(event.id)
        text = self._texts.get(
            "staff_events.cancel_confirm",
            title=escape_cut(event.title, 300),
            when=when(event.starts_at, self._settings.center.tz),
            count=registrants,
        )
        return {
            "type": "modal",
            "callback_id": "event_cancel_confirm",
            "private_metadata": json.dumps({"event_id": event.id}),
            "title": _plain(self._texts.get("staff_events.cancel_title")),
            "submit": _plain(self._texts.get("staff_events.cancel_submit")),
            "close": _plain(self._texts.get("staff_events.back")),
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
        }

    # -- views -----------------------------------------------------------------------------------

    def form_view(self, event: Event | None) -> dict[str, Any]:
        """The create / edit form. Only ids in private_metadata (it holds 3,000 characters)."""
        texts = self._texts
        tz = self._settings.center.tz
        uid = event.uid if event is not None else f"slack-{secrets.token_hex(8)}"
        current: dict[str, str] = {}
        if event is not None:
            current = {
                "title": event.title,
                "description": event.description,
                "starts_at": when(event.starts_at, tz),
                "ends_at": when(event.ends_at, tz),
                "venue": event.venue,
                "online_url": event.online_url,
                "registration_deadline": when(event.registration_deadline, tz),
                "reminders": reminders_text(event.reminder_offsets),
                "capacity": "" if event.capacity is None or event.has_slots else str(event.capacity),
                "slots": str(event.slot_count) if event.has_slots else "",
                "slot_minutes": str(event.slot_minutes) if event.has_slots else "",
                "slot_break": str(event.slot_break) if event.slot_break else "",
                "slot_advisors": event.slot_advisors,
            }
        kinds = [{"text": _plain(k.label), "value": k.id} for k in self._settings.events.kinds[:100]]
        kind_select: dict[str, Any] = {"type": "static_select", "action_id": "value", "options": kinds}
        chosen = next((o for o in kinds if event is not None and o["value"] == event.kind), None)
        if chosen is not None:
            kind_select["initial_option"] = chosen
        public_options = [
            {"text": _plain(texts.get("staff_events.public")), "value": "1"},
            {"text": _plain(texts.get("staff_events.internal_option")), "value": "0"},
        ]
        blocks: list[dict[str, Any]] = [
            _input("kind", texts.get("staff_events.field_kind"), kind_select),
        ]
        for name in (
            "title",
            "starts_at",
            "ends_at",
            "registration_deadline",
            "venue",
            "online_url",
            "capacity",
            *SLOT_FIELDS,
        ):
            blocks.append(
                self._text_input(name, current.get(name, ""), optional=name not in ("title", "starts_at"))
            )
        blocks.append(
            _input(
                "public",
                texts.get("staff_events.field_public"),
                {
                    "type": "static_select",
                    "action_id": "value",
                    "options": public_options,
                    "initial_option": public_options[0 if event is None or event.public else 1],
                },
            )
        )
        blocks.append(self._text_input("reminders", current.get("reminders", ""), optional=True))
        blocks.append(
            self._text_input("description", current.get("description", ""), optional=True, multiline=True)
        )
        title = texts.get("staff_events.edit_title" if event is not None else "staff_events.create_title")
        return {
            "type": "modal",
            "callback_id": "event_save",
            # The version the form shows: a save over someone else's later change is refused.
            "private_metadata": json.dumps(
                {
                    "uid": uid,
                    "event_id": event.id if event else None,
                    "updated_at": event.updated_at.isoformat() if event else None,
                }
            ),
            "title": _plain(title),
            "submit": _plain(texts.get("staff_events.save")),
            "close": _plain(texts.get("staff_events.back")),
            "blocks": blocks,
        }

    def _text_input(
        self, name: str, value: str, *, optional: bool, multiline: bool = False
    ) -> dict[str, Any]:
        element: dict[str, Any] = {"type": "plain_text_input", "action_id": "value", "multiline": multiline}
        if name in FIELD_LIMITS:
            element["max_length"] = FIELD_LIMITS[name]
        if value:
            element["initial_value"] = value
        if name in ("starts_at", "ends_at", "registration_deadline"):
            element["placeholder"] = _plain("2026-12-01 18:30")
        section = "slots" if name in SLOT_FIELDS else "staff_events"
        block = _input(name, self._texts.get(f"{section}.field_{name}"), element, optional=optional)
        hint = {
            "starts_at": "hint_time",
            "reminders": "hint_reminders",
            "online_url": "hint_online",
            "slots": "hint_slots",
            "slot_advisors": "hint_slot_advisors",
        }.get(name)
        if hint is not None:
            block["hint"] = _plain(self._texts.get(f"{section}.{hint}"))
        return block

    def notice_view(self, text: str) -> dict[str, Any]:
        return {
            "type": "modal",
            "title": _plain(self._texts.get("staff_events.modal_title")),
            "close": _plain(self._texts.get("staff_events.close")),
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
        }

    # -- submissions -----------------------------------------------------------------------------

    async def _save(self, ack: Ack, body: dict[str, Any]) -> None:
        view = body["view"]
        actor = str(body["user"]["id"])
        metadata = view_metadata(view)
        refusal = await self.refusal(actor)
        if refusal is not None:
            await ack(response_action="errors", errors={"title": refusal})
            return
        values = _values(view)
        values["uid"] = str(metadata.get("uid") or "")
        try:
            draft = draft_from_fields(values, self._settings, source="slack")
        except FieldError as exc:
            block = exc.field if exc.field in COLUMNS and exc.field != "uid" else "title"
            await ack(
                response_action="errors",
                errors={block: self._texts.get("staff_events.invalid", reason=exc.message)},
            )
            return
        now = self._clock()
        try:
            saved = await self._store(draft, actor, now, str(metadata.get("updated_at") or ""))
        except SlotsBooked as exc:  # the transaction is rolled back: nothing changed
            booked = "、".join(self._slot_line(s, with_day=True) for s in exc.booked)
            await ack(
                response_action="errors", errors={"slots": self._texts.get("slots.refused", slots=booked)}
            )
            return
        except SeatsWithoutSlots as exc:
            refused = self._texts.get("slots.refused_unslotted", count=exc.count)
            await ack(response_action="errors", errors={"slots": refused})
            return
        except ChangedMeanwhile:
            changed = self._texts.get("staff_events.changed_meanwhile")
            await ack(response_action="errors", errors={"title": changed})
            return
        except StartPassed:
            await ack(
                response_action="errors", errors={"starts_at": self._texts.get("staff_events.start_passed")}
            )
            return
        if saved is None:
            await ack(response_action="errors", errors={"title": self._texts.get("staff_events.not_found")})
            return
        event, change = saved
        self._on_queued()
        log.info("slack.event_saved", extra=fields(event=event.id, change=change))
        text = self._texts.get(
            "staff_events.saved",
            title=escape_cut(event.title, 300),
            when=when(event.starts_at, self._settings.center.tz),
        )
        await ack(response_action="update", view=self.notice_view(text))

    async def _store(
        self, draft: EventDraft, actor: str, now: datetime, opened: str
    ) -> tuple[Event, Change] | None:
        """Save the form's event (None: it was cancelled meanwhile); SlotsBooked refuses it whole, and
        StartPassed a start already past (a new event's, or a changed one: an event held before may
        still be edited as it stands). Only here: a file import may bring in past events.
        ChangedMeanwhile (rolled back) when the event was saved by someone since the form showed it at
        `opened` (its updated_at; "" for a new event): the same form submitted twice is `unchanged`."""
        async with self._db.transaction() as tx:
            existing = await tx.events.by_uid(draft.uid)
            if existing is not None and existing.status == "cancelled":
                return None
            if draft.starts_at <= now and (existing is None or existing.starts_at != draft.starts_at):
                raise StartPassed
            if existing is not None and existing.source != "slack":
                draft = type(draft)(**{**draft.__dict__, "source": existing.source})
            event, change = await tx.events.save(draft, now)
            if change == "updated" and (existing is None or existing.updated_at.isoformat() != opened):
                raise ChangedMeanwhile
            if change != "unchanged":
                action = "event.created" if change == "added" else "event.updated"
                await tx.audit.record(f"slack:{actor}", action, "event", event.id, now)
            if (
                existing is not None
                and existing.starts_at != event.starts_at
                and self.on_reschedule is not None
            ):
                await self.on_reschedule(tx, event.id)
        return event, change

    async def _cancel_confirm(self, ack: Ack, body: dict[str, Any]) -> None:
        view = body["view"]
        actor = str(body["user"]["id"])
        refusal = await self.refusal(actor)
        if refusal is not None:
            await ack(response_action="update", view=self.notice_view(refusal))
            return
        event_id = row_id(view_metadata(view).get("event_id"))
        now = self._clock()
        async with self._db.transaction() as tx:
            event = await tx.events.get(event_id)
            if event is None or event.status == "cancelled":
                done = None
            else:
                if self.on_cancel is not None:
                    await self.on_cancel(tx, event.id)
                else:
                    await tx.events.set_status(event.id, "cancelled", now)
                await tx.audit.record(f"slack:{actor}", "event.cancelled", "event", event.id, now)
                done = event
        if done is None:
            await ack(
                response_action="update", view=self.notice_view(self._texts.get("staff_events.not_found"))
            )
            return
        self._on_queued()
        log.info("slack.event_cancelled", extra=fields(event=done.id))
        text = self._texts.get(
            "staff_events.cancelled",
            title=escape_cut(done.title, 300),
            when=when(done.starts_at, self._settings.center.tz),
        )
        await ack(response_action="update", view=self.notice_view(text))


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def _button(text: str, action_id: str, value: str) -> dict[str, Any]:
    return {"type": "button", "text": _plain(text), "action_id": action_id, "value": value}


def _input(block_id: str, label: str, element: dict[str, Any], *, optional: bool = False) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": block_id,
        "label": _plain(label),
        "element": element,
        "optional": optional,
    }


def _values(view: dict[str, Any]) -> dict[str, str]:
    """The form's fields as text: a text input's value, a select's chosen value."""
    state = ((view.get("state") or {}).get("values")) or {}
    found: dict[str, str] = {}
    for block_id, actions in state.items():
        leaf = (actions or {}).get("value") or {}
        if "selected_option" in leaf:
            found[block_id] = str((leaf.get("selected_option") or {}).get("value") or "")
        else:
            found[block_id] = str(leaf.get("value") or "")
    return {k: v for k, v in found.items() if k in COLUMNS and k != "uid"}
