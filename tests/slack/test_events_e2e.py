"""Staff manage events in Slack: /madoguchi event opens the form, /madoguchi events lists them, 中止
cancels after a confirmation. Real Bolt over HTTP against the fake Slack, every request signed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from bot.clock import utc_now
from bot.sandbox.fake_slack import ViewEvent
from bot.sandbox.slack_signing import block_action, slash_command, view_submission
from tests.harness import wait_for
from tests.slack.test_desk_e2e import STAFF, STRANGER, Desk, desk

__all__ = ["desk"]  # the fixture, shared with the desk tests

CITIZEN = "U0000000000000000000000000000000c"
TITLE = "<!channel> 川辺の交流会 & 相談"
# The next year's January 15, ahead whenever the tests run: the bot runs on the real clock, and the
# list shows only events to come (a fixed 2027 fell off it once that day had passed).
YEAR = utc_now().year + 1
DAY = f"{YEAR}-01-15"
WIDE_YEAR = str(YEAR).translate(str.maketrans("0123456789", "０１２３４５６７８９"))  # as typed in Japanese
FORM = {
    "kind": {"value": {"type": "static_select", "selected_option": {"value": "salon"}}},
    "title": {"value": TITLE},
    "starts_at": {"value": f"{WIDE_YEAR}-01-15 18:30"},
    "ends_at": {"value": f"{DAY} 20:00"},
    "registration_deadline": {"value": ""},
    "venue": {"value": "市民協働推進センター"},
    "online_url": {"value": ""},
    "capacity": {"value": "30"},
    "public": {"value": {"type": "static_select", "selected_option": {"value": "1"}}},
    "reminders": {"value": "1d 2h"},
    "description": {"value": ""},
}


def said(body: str) -> str:
    return str(json.loads(body)["text"]) if body.startswith("{") else body


async def opened(desk: Desk, action: str = "open") -> ViewEvent:
    return [v for v in desk.slack.views if v.action == action][-1]


async def submit(desk: Desk, view: ViewEvent, values: dict[str, Any], user: str = STAFF) -> dict[str, Any]:
    body = view_submission(
        user, str(view.view["callback_id"]), values, str(view.view["private_metadata"]), view.view_id
    )
    status, text = await desk.post(body)
    assert status == 200
    return desk.slack.answer_view_submission(view.view_id, text)


async def test_staff_create_list_and_cancel_an_event(desk: Desk) -> None:
    trigger = desk.slack.issue_trigger_id(STAFF)
    status, _ = await desk.post(slash_command("/madoguchi", "event", STAFF, "C_DEFAULT", trigger))
    assert status == 200
    form = await opened(desk)
    assert form.view["callback_id"] == "event_save"

    wrong = await submit(desk, form, {**FORM, "starts_at": {"value": "1月15日"}})
    assert "starts_at" in wrong["errors"] and "2026-12-01 18:30" in wrong["errors"]["starts_at"]
    assert await desk.bot.db.read.events.all_events() == []
    early = await submit(desk, form, {**FORM, "ends_at": {"value": f"{DAY} 17:00"}})
    assert list(early["errors"]) == ["ends_at"]

    saved = await submit(desk, form, FORM)
    assert saved["ok"] and f"{DAY} 18:30" in json.dumps(saved["view"], ensure_ascii=False)
    assert desk.slack.alarms(saved["view"]) == []  # the title's <!channel> is escaped
    [event] = await desk.bot.db.read.events.all_events()
    assert (event.title, event.kind, event.capacity, event.source) == (TITLE, "salon", 30, "slack")
    assert event.starts_at == datetime(YEAR, 1, 15, 9, 30, tzinfo=UTC)  # typed in Tokyo, stored in UTC
    assert event.reminder_offsets == (1440, 120)
    again = await submit(desk, form, FORM)  # submitted twice: still one event
    assert again["ok"] and len(await desk.bot.db.read.events.all_events()) == 1

    status, text = await desk.post(slash_command("/madoguchi", "events", STAFF, "C_DEFAULT"))
    listing = json.loads(text)
    shown = json.dumps(listing["blocks"], ensure_ascii=False)
    assert f"{DAY} 18:30" in shown and "（0/30）" in shown
    assert desk.slack.alarms(listing) == []

    status, _ = await desk.post(
        block_action(
            STAFF, "event_edit", str(event.id), "C_DEFAULT", trigger_id=desk.slack.issue_trigger_id(STAFF)
        )
    )
    edit = await opened(desk)
    assert edit.view["callback_id"] == "event_save" and f"{DAY} 18:30" in json.dumps(edit.view)
    await submit(desk, edit, {**FORM, "title": {"value": "変更後"}})
    [changed] = await desk.bot.db.read.events.all_events()
    assert changed.id == event.id and changed.title == "変更後"

    status, _ = await desk.post(
        block_action(
            STAFF, "event_cancel", str(event.id), "C_DEFAULT", trigger_id=desk.slack.issue_trigger_id(STAFF)
        )
    )
    confirm = await opened(desk)
    assert confirm.view["callback_id"] == "event_cancel_confirm"
    done = await submit(desk, confirm, {})
    assert done["ok"] and "中止しました" in json.dumps(done["view"], ensure_ascii=False)
    cancelled = await desk.bot.db.read.events.get(event.id)
    assert cancelled is not None and cancelled.status == "cancelled"
    actions = [e.action for e in await desk.bot.db.read.audit.for_subject("event", event.id)]
    assert actions == ["event.created", "event.updated", "event.cancelled"]


async def test_only_staff_manage_events(desk: Desk) -> None:
    status, text = await desk.post(slash_command("/madoguchi", "event", STRANGER, "C_DEFAULT"))
    assert status == 200 and said(text) == "この操作はセンターのスタッフのみ行えます。"
    trigger = desk.slack.issue_trigger_id(STRANGER)
    await desk.post(block_action(STRANGER, "event_create", "new", "C_DEFAULT", trigger_id=trigger))
    notice = await opened(desk)
    assert "スタッフのみ" in json.dumps(notice.view, ensure_ascii=False)
    assert not notice.view.get("callback_id")  # a notice, not the form
    # A form submitted by someone who is not staff (forged, or staff no longer) saves nothing.
    body = view_submission(STRANGER, "event_save", FORM, json.dumps({"uid": "forged"}), "V_FORGED")
    status, text = await desk.post(body)
    assert status == 200 and "errors" in json.loads(text)
    assert await desk.bot.db.read.events.all_events() == []


async def test_cancelling_in_slack_tells_registrants_on_line(desk: Desk) -> None:
    trigger = desk.slack.issue_trigger_id(STAFF)
    await desk.post(slash_command("/madoguchi", "event", STAFF, "C_DEFAULT", trigger))
    await submit(desk, await opened(desk), FORM)
    [event] = await desk.bot.db.read.events.all_events()
    now = datetime.now(UTC)
    async with desk.bot.db.transaction() as tx:
        user = await tx.users.ensure(CITIZEN, now)
        await tx.registrations.put(event.id, user.id, "registered", 1, now)
    await desk.post(
        block_action(
            STAFF, "event_cancel", str(event.id), "C_DEFAULT", trigger_id=desk.slack.issue_trigger_id(STAFF)
        )
    )
    confirm = await opened(desk)
    assert "申込者 1 人" in json.dumps(confirm.view, ensure_ascii=False)
    await submit(desk, confirm, {})

    def told() -> bool:
        return any("中止" in text for text in desk.line.sent_texts(CITIZEN))

    await wait_for(told)
    cancelled = await desk.bot.db.read.events.get(event.id)
    assert cancelled is not None and cancelled.status == "cancelled"
