"""A case as a Block Kit card, and the modals staff use on it. Translation only: no decisions."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import tzinfo
from typing import Any

from bot.slack.mrkdwn import escape, escape_cut
from flows.dates import moment_text
from flows.slots import slot_moment
from flows.staff import MAX_REPLY
from flows.texts import Texts
from storage.cases import Case
from storage.events import Event
from storage.repositories import Repositories
from storage.slots import Slot

SECTION_MAX = 2900  # Block Kit allows 3,000 characters in a section's text
FIELD_MAX = 1900  # and 2,000 in each of a section's fields


def _cut(text: str, limit: int = SECTION_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def case_blocks(
    case: Case,
    category_label: str,
    texts: Texts,
    tz: tzinfo,
    earlier: Sequence[str] = (),
    booking: str | None = None,
) -> list[dict[str, Any]]:
    """The card. Every value a citizen supplied is escaped (mrkdwn): it pings no one and links nowhere.
    `earlier`: the numbers of the same citizen's earlier cases; `booking`: the consultation-session
    slot the case is linked to (`booking_line`)."""
    if case.anonymised_at is not None:
        return anonymised_blocks(case, category_label, texts, tz)
    status = texts.get(f"staff.status_{case.status}")
    assignee = f"<@{case.assignee}>" if case.assignee else texts.get("staff.unassigned")
    who = escape(case.requester_type) + (f"（{escape(case.organisation)}）" if case.organisation else "")
    contact = {
        "line": "LINE",
        "phone": texts.get("staff.card_phone", phone=escape(case.phone or "")),
        "email": texts.get("staff.card_email", email=escape(case.email or "")),
    }.get(case.contact_method, escape(case.contact_method))
    received = moment_text(texts, case.created_at, tz)
    if case.received_out_of_hours:
        received += texts.get("staff.card_out_of_hours")
    due = moment_text(texts, case.answer_due_at, tz) if case.answer_due_at else texts.get("staff.card_none")
    history = "、".join(earlier) if earlier else texts.get("staff.card_none")
    fields = [
        (texts.get("staff.card_status"), status),
        (texts.get("staff.card_assignee"), assignee),
        (texts.get("staff.card_category"), escape(category_label)),
        (texts.get("staff.card_requester"), who),
        (texts.get("staff.card_name"), _name(case)),
        (texts.get("staff.card_contact"), contact),
        (texts.get("staff.card_received"), received),
        (texts.get("staff.card_due"), due),
        (
            texts.get("staff.card_preferred_dates"),
            escape_cut(case.preferred_dates, FIELD_MAX)
            if case.preferred_dates
            else texts.get("staff.card_none"),
        ),
    ]
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": texts.get("staff.card_title", number=case.number)},
        },
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in fields]},
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"*{texts.get('staff.card_body')}*\n" + escape_cut(case.body, SECTION_MAX),
            },
        },
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": texts.get("staff.card_earlier", numbers=history)}],
        },
    ]
    if booking:  # above the line of earlier cases
        text = f"*{texts.get('slots.card_booking')}*\n{booking}"
        blocks.insert(-1, {"type": "section", "text": {"type": "mrkdwn", "text": text}})
    buttons: list[dict[str, Any]] = []
    value = str(case.id)
    if case.status == "closed":
        buttons.append(_button(texts.get("staff.reopen"), "case_reopen", value))
    else:
        if case.assignee:
            buttons.append(_button(texts.get("staff.unclaim"), "case_unclaim", value))
        else:
            buttons.append(_button(texts.get("staff.claim"), "case_claim", value, style="primary"))
        buttons.append(_button(texts.get("staff.reply"), "case_reply", value))
        buttons.append(_button(texts.get("staff.close"), "case_close", value, style="danger"))
    blocks.append({"type": "actions", "block_id": "case_actions", "elements": buttons})
    return blocks


async def case_booking(read: Repositories, case: Case, texts: Texts, tz: tzinfo) -> str | None:
    """The consultation-session slot the case is linked to, for its card (None: none)."""
    slot = await read.slots.for_case(case.id)
    event = None if slot is None else await read.events.get(slot.event_id)
    if slot is None or event is None or event.status == "cancelled":
        return None
    return booking_line(event, slot, texts, tz)


def booking_line(event: Event, slot: Slot, texts: Texts, tz: tzinfo) -> str:
    """The session and slot a case is linked to: 市民協働相談会12月 ・ 12月5日(土) 13:40〜14:20 税理士."""
    return texts.get(
        "slots.card_booking_line",
        title=escape_cut(event.title, 300),
        slot=escape(slot_moment(texts, slot, tz)),
    )


def anonymised_blocks(case: Case, category_label: str, texts: Texts, tz: tzinfo) -> list[dict[str, Any]]:
    """The card of a case whose personal data was removed: what happened and when, and only what is
    kept for statistics (number, status, category, dates). No buttons: nothing can be done with it."""
    assert case.anonymised_at is not None
    said = texts.get(
        f"staff.card_anonymised_{case.anonymised_reason or 'request'}",
        when=moment_text(texts, case.anonymised_at, tz),
    )
    fields = [
        (texts.get("staff.card_status"), texts.get(f"staff.status_{case.status}")),
        (texts.get("staff.card_category"), escape(category_label)),
        (texts.get("staff.card_received"), moment_text(texts, case.created_at, tz)),
    ]
    return [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": texts.get("staff.card_title", number=case.number)},
        },
        {"type": "section", "text": {"type": "mrkdwn", "text": said}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in fields]},
    ]


def _who(case: Case) -> str:
    return f"{case.number} ・ {escape_cut(case.person_name, FIELD_MAX)}"


def card_text(case: Case, category_label: str, texts: Texts) -> str:
    """The notification text (and the fallback where blocks are not shown)."""
    return texts.get("staff.card_notification", number=case.number, category=escape(category_label))


def _button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def _modal(
    callback_id: str, title: str, blocks: list[dict[str, Any]], metadata: dict[str, Any], texts: Texts
) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "title": {"type": "plain_text", "text": title[:24]},
        "submit": {"type": "plain_text", "text": texts.get("staff.submit")},
        "close": {"type": "plain_text", "text": texts.get("staff.cancel")},
        "private_metadata": json.dumps(metadata, ensure_ascii=False),
        "blocks": blocks,
    }


def reply_compose_view(case: Case, texts: Texts, draft: str = "") -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": "text",
        "multiline": True,
        "max_length": MAX_REPLY,
    }
    if draft:
        element["initial_value"] = draft
    blocks: list[dict[str, Any]] = [
        {"type": "context", "elements": [{"type": "mrkdwn", "text": _who(case)}]},
        {
            "type": "input",
            "block_id": "reply",
            "label": {"type": "plain_text", "text": texts.get("staff.reply_label")},
            "element": element,
        },
    ]
    return _modal(
        "case_reply_compose", texts.get("staff.reply_modal_title"), blocks, {"case_id": case.id}, texts
    )


def reply_preview_view(case: Case, citizen_text: str, draft_id: int, texts: Texts) -> dict[str, Any]:
    """The exact text the citizen will receive, shown before it is sent; the draft waits in storage."""
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": texts.get("staff.reply_preview")}},
        {"type": "section", "text": {"type": "plain_text", "text": _cut(citizen_text)}},
    ]
    metadata = {"case_id": case.id, "draft_id": draft_id}
    return _modal("case_reply_confirm", texts.get("staff.reply_modal_title"), blocks, metadata, texts)


def close_view(case: Case, texts: Texts) -> dict[str, Any]:
    element = {"type": "plain_text_input", "action_id": "text", "multiline": True, "max_length": 2000}
    blocks: list[dict[str, Any]] = [
        {"type": "context", "elements": [{"type": "mrkdwn", "text": _who(case)}]},
        {
            "type": "input",
            "block_id": "message",
            "optional": True,
            "label": {"type": "plain_text", "text": texts.get("staff.close_label")},
            "element": element,
        },
    ]
    return _modal(
        "case_close_submit", texts.get("staff.close_modal_title"), blocks, {"case_id": case.id}, texts
    )


def _name(case: Case) -> str:
    """The name, with its ふりがな (for calling back) when the citizen gave one."""
    name = escape_cut(case.person_name, FIELD_MAX)
    return f"{name}（{escape_cut(case.furigana, 200)}）" if case.furigana else name
