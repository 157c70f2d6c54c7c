"""The event form (bot/slack/events.py) at its edges (review 48): a start already past is refused (D3),
and a save over another staff member's later change too (D2)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.clock import utc_now
from bot.sandbox.fake_slack import ViewEvent
from bot.sandbox.slack_signing import block_action, slash_command
from storage.events import EventDraft
from tests.slack.test_desk_e2e import STAFF, Desk
from tests.slack.test_events_e2e import DAY, FORM, YEAR, desk, opened, submit

__all__ = ["desk"]


async def created(desk: Desk) -> int:
    trigger = desk.slack.issue_trigger_id(STAFF)
    await desk.post(slash_command("/madoguchi", "event", STAFF, "C_DEFAULT", trigger))
    answer = await submit(desk, await opened(desk), FORM)
    assert answer["ok"] and "errors" not in answer, answer
    [event] = await desk.bot.db.read.events.all_events()
    return event.id


async def edit_form(desk: Desk, event_id: int) -> ViewEvent:
    trigger = desk.slack.issue_trigger_id(STAFF)
    await desk.post(block_action(STAFF, "event_edit", str(event_id), "C_DEFAULT", trigger_id=trigger))
    form = await opened(desk)
    assert form.view["callback_id"] == "event_save", form.view
    return form


def as_shown(form: ViewEvent) -> dict[str, Any]:
    """The form's fields as the form shows them, submitted untouched."""
    values: dict[str, Any] = {}
    for block in form.view["blocks"]:
        element = block["element"]
        if element["type"] == "static_select":
            chosen = element.get("initial_option") or {"value": ""}
            values[block["block_id"]] = {"value": {"type": "static_select", "selected_option": chosen}}
        else:
            values[block["block_id"]] = {"value": element.get("initial_value", "")}
    return values


async def test_a_new_event_with_a_start_already_past_is_refused(desk: Desk) -> None:
    past = f"{YEAR - 2}-01-15"  # the year mistyped around New Year
    await desk.post(
        slash_command("/madoguchi", "event", STAFF, "C_DEFAULT", desk.slack.issue_trigger_id(STAFF))
    )
    form = await opened(desk)
    answer = await submit(
        desk, form, {**FORM, "starts_at": {"value": f"{past} 18:30"}, "ends_at": {"value": f"{past} 20:00"}}
    )
    assert list(answer.get("errors", {})) == ["starts_at"], answer
    assert "過ぎて" in answer["errors"]["starts_at"]
    assert await desk.bot.db.read.events.all_events() == []
    fixed = await submit(desk, form, FORM)  # corrected in the same form
    assert fixed["ok"] and "errors" not in fixed, fixed


async def test_an_edit_may_not_move_the_start_into_the_past(desk: Desk) -> None:
    event_id = await created(desk)
    before = await desk.bot.db.read.events.get(event_id)
    past = f"{YEAR - 2}-01-15"
    moved = await submit(
        desk,
        await edit_form(desk, event_id),
        {**FORM, "starts_at": {"value": f"{past} 18:30"}, "ends_at": {"value": f"{past} 20:00"}},
    )
    assert list(moved.get("errors", {})) == ["starts_at"], moved
    assert await desk.bot.db.read.events.get(event_id) == before


async def test_an_event_already_held_can_still_be_edited_if_its_start_stays(desk: Desk) -> None:
    # An imported event that took place yesterday (imports of past events are allowed).
    held = EventDraft(
        uid="held-1",
        kind="salon",
        title="昨日の交流会",
        starts_at=utc_now().replace(second=0, microsecond=0) - timedelta(days=1),
    )
    async with desk.bot.db.transaction() as tx:
        event = await tx.events.upsert(held, utc_now())
    form = await edit_form(desk, event.id)
    values = as_shown(form)
    answer = await submit(desk, form, {**values, "title": {"value": "昨日の交流会（報告あり）"}})
    assert "errors" not in answer, answer
    saved = await desk.bot.db.read.events.get(event.id)
    assert saved is not None and saved.title == "昨日の交流会（報告あり）"
    assert saved.starts_at == event.starts_at
    # Moving it to another time still past is refused.
    other = await submit(
        desk, await edit_form(desk, event.id), {**values, "starts_at": {"value": f"{YEAR - 2}-01-15 10:00"}}
    )
    assert list(other.get("errors", {})) == ["starts_at"], other


async def test_two_staff_editing_one_event_the_later_save_is_refused(desk: Desk) -> None:
    """Review 48, D2: the later save silently undid the earlier one (and registrants were told of a
    new time twice, the second one the time staff B had just removed)."""
    event_id = await created(desk)
    a = await edit_form(desk, event_id)  # staff A opens 編集
    b = await edit_form(desk, event_id)  # staff B opens 編集 at the same time
    moved_form = {**FORM, "starts_at": {"value": f"{DAY} 19:00"}}
    moved = await submit(desk, b, moved_form)  # B moves the start
    assert moved["ok"] and "errors" not in moved, moved
    again = await submit(desk, b, moved_form)  # B's form submitted twice (a double click, a retry)
    assert again["ok"] and "errors" not in again, again
    stored = await desk.bot.db.read.events.get(event_id)

    # A fixes the title in the form opened before B's change (its start still 18:30): refused.
    fixed = await submit(desk, a, {**FORM, "title": {"value": "川辺の交流会"}})
    assert list(fixed.get("errors", {})) == ["title"], fixed
    assert "開き直して" in fixed["errors"]["title"]
    assert await desk.bot.db.read.events.get(event_id) == stored  # B's start kept, nothing else changed

    # Reopened, the form shows B's start, and A's fix is saved over it.
    reopened = await edit_form(desk, event_id)
    done = await submit(desk, reopened, {**as_shown(reopened), "title": {"value": "川辺の交流会"}})
    assert "errors" not in done, done
    event = await desk.bot.db.read.events.get(event_id)
    assert event is not None and stored is not None
    assert (event.title, event.starts_at) == ("川辺の交流会", stored.starts_at)
