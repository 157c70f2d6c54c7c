"""告知する in Slack: the confirm modal's numbers (recipients, quota cost, what the month has left, a
warning when it is not enough), one announcement however often it is confirmed, staff only, and never
for internal, cancelled or past events. Real Bolt over HTTP against the fake Slack; the multicasts reach
the fake LINE through the outbox."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.sandbox.fake_slack import ViewEvent
from bot.sandbox.slack_signing import block_action, slash_command, view_submission
from storage.events import Event, EventDraft
from tests.harness import wait_for
from tests.slack.test_desk_e2e import STAFF, STRANGER, Desk, desk

__all__ = ["desk"]  # the fixture, shared with the desk tests

SUBSCRIBERS = ["U_SUB_1", "U_SUB_2", "U_SUB_3"]
MULTICAST = "/v2/bot/message/multicast"


async def add_event(desk: Desk, uid: str, **more: Any) -> Event:
    values: dict[str, Any] = {
        "uid": uid,
        "kind": "salon",
        "title": f"<!channel> 川辺の交流会 {uid}",
        "starts_at": datetime.now(UTC) + timedelta(days=10),
        "venue": "象の鼻テラス",
        **more,
    }
    async with desk.bot.db.transaction() as tx:
        return await tx.events.upsert(EventDraft(**values), datetime.now(UTC))


async def seed_citizens(desk: Desk) -> None:
    """Three who chose ミズベサロン; one who chose it and sent 配信停止; one who chose it and unfollowed;
    one who chose another kind."""
    now = datetime.now(UTC)
    async with desk.bot.db.transaction() as tx:
        for line_id in [*SUBSCRIBERS, "U_STOPPED", "U_GONE", "U_SEMINAR"]:
            user = await tx.users.mark_followed(line_id, now)
            await tx.subscriptions.choose(
                user.id, "seminar" if line_id == "U_SEMINAR" else "salon", True, now
            )
            if line_id == "U_STOPPED":
                await tx.subscriptions.stop(user.id, now)
        await tx.users.mark_unfollowed("U_GONE", now)


async def press_announce(desk: Desk, event: Event, user: str = STAFF) -> ViewEvent:
    trigger = desk.slack.issue_trigger_id(user)
    status, _ = await desk.post(
        block_action(user, "event_announce", str(event.id), "C_DEFAULT", trigger_id=trigger)
    )
    assert status == 200
    return [v for v in desk.slack.views if v.action == "open"][-1]


async def confirm(desk: Desk, view: ViewEvent, user: str = STAFF) -> dict[str, Any]:
    body = view_submission(
        user, "event_announce_confirm", {}, str(view.view["private_metadata"]), view.view_id
    )
    status, text = await desk.post(body)
    assert status == 200
    return desk.slack.answer_view_submission(view.view_id, text)


def shown(view: dict[str, Any]) -> str:
    return json.dumps(view, ensure_ascii=False)


def answered(body: str) -> str:
    """The view a modal submission's answer shows."""
    return shown(json.loads(body)["view"])


async def settled(desk: Desk) -> bool:
    """Nothing waits in the outbox and LINE was asked for a multicast at least once."""
    pending = await desk.bot.db.read.outbox.count("pending")
    return pending == 0 and bool(desk.line.find_requests(path=MULTICAST))


async def nothing_queued(desk: Desk) -> None:
    assert await desk.bot.db.read.outbox.count("pending") == 0
    assert await desk.bot.db.read.outbox.count("sent") == 0
    assert desk.line.find_requests(path=MULTICAST) == []


async def test_the_modal_counts_only_following_subscribers_not_stopped_and_shows_the_cost(desk: Desk) -> None:
    await seed_citizens(desk)
    event = await add_event(desk, "salon")
    desk.line.quota = 200
    modal = await press_announce(desk, event)
    text = shown(modal.view)
    assert modal.view["callback_id"] == "event_announce_confirm"
    assert "送る相手：*3人*" in text  # not the stopped, the unfollowed, nor the other kind's
    assert "使う通数：*3通*（3人 × 1通）" in text
    assert "今月の残り：200通（上限 200通）" in text
    assert ":warning:" not in text
    assert "「<!channel> 川辺の交流会 salon」" in text  # the message itself, as plain text
    assert desk.slack.alarms(modal.view) == []  # the title is escaped where Slack reads markup
    assert desk.line.find_requests(path=MULTICAST) == []  # nothing sent before the confirmation


async def test_a_cost_beyond_the_remaining_quota_is_warned_about(desk: Desk) -> None:
    await seed_citizens(desk)
    event = await add_event(desk, "salon")
    desk.line.quota = 2
    text = shown((await press_announce(desk, event)).view)
    assert "今月の残り：2通（上限 2通）" in text
    assert ":warning: 今月の残りより1通多いため" in text


async def test_confirming_twice_or_by_two_staff_at_once_announces_once(desk: Desk) -> None:
    await seed_citizens(desk)
    event = await add_event(desk, "salon")
    first, second = await press_announce(desk, event), await press_announce(desk, event)
    answers = await asyncio.gather(confirm(desk, first), confirm(desk, second), confirm(desk, first))
    said = [shown(a["view"]) for a in answers]
    assert sum("3人に告知しました" in s for s in said) == 1
    assert sum("告知済みです（3人）" in s for s in said) == 2
    await wait_for(lambda: settled(desk))
    [request] = desk.line.find_requests(path=MULTICAST)
    assert request.json is not None and sorted(request.json["to"]) == SUBSCRIBERS
    [message] = request.json["messages"]
    assert "（ミズベサロン）" in message["text"] and "「配信停止」" in message["text"]
    announced = await desk.bot.db.read.announcements.get(event.id)
    assert announced is not None and announced.recipients == 3
    assert [e.action for e in await desk.bot.db.read.audit.for_subject("event", event.id)] == [
        "event.announced"
    ]
    # Pressed again later: the modal says it was announced, with no 告知する.
    again = await press_announce(desk, event)
    assert not again.view.get("submit") and "告知済み" in shown(again.view)


async def test_only_staff_announce(desk: Desk) -> None:
    await seed_citizens(desk)
    event = await add_event(desk, "salon")
    notice = await press_announce(desk, event, STRANGER)
    assert "スタッフのみ" in shown(notice.view) and not notice.view.get("callback_id")
    # A confirmation forged by someone who is not staff (or no longer is) sends nothing.
    body = view_submission(
        STRANGER, "event_announce_confirm", {}, json.dumps({"event_id": event.id}), "V_FORGED"
    )
    status, text = await desk.post(body)
    assert status == 200 and "スタッフのみ" in answered(text)
    assert await desk.bot.db.read.announcements.get(event.id) is None
    await nothing_queued(desk)


async def test_internal_cancelled_past_and_closed_events_cannot_be_announced(desk: Desk) -> None:
    await seed_citizens(desk)
    internal = await add_event(desk, "internal", public=False)
    cancelled = await add_event(desk, "cancelled")
    past = await add_event(desk, "past", starts_at=datetime.now(UTC) - timedelta(minutes=5), ends_at=None)
    nobody = await add_event(desk, "nobody", kind="fes")
    deadline = await add_event(
        desk, "deadline", registration_deadline=datetime.now(UTC) - timedelta(minutes=1)
    )
    async with desk.bot.db.transaction() as tx:
        await tx.events.set_status(cancelled.id, "cancelled", datetime.now(UTC))
    expected = {
        internal.id: "内部イベントは告知できません。",
        cancelled.id: "中止されたイベントは告知できません。",
        past.id: "開始時刻を過ぎたイベントは告知できません。",
        nobody.id: "希望している方がいないため",
        deadline.id: "受付を終了したイベントは告知できません。",  # nobody could sign up any more
    }
    for event_id, reason in expected.items():
        event = await desk.bot.db.read.events.get(event_id)
        assert event is not None
        view = (await press_announce(desk, event)).view
        assert reason in shown(view) and not view.get("submit")
        # Even a confirmation that names it (forged, or left open) announces nothing.
        body = view_submission(STAFF, "event_announce_confirm", {}, json.dumps({"event_id": event_id}), "V_X")
        status, text = await desk.post(body)
        assert status == 200 and reason in answered(text)
    await nothing_queued(desk)


async def test_the_staff_list_offers_announce_on_public_open_events_only(desk: Desk) -> None:
    public = await add_event(desk, "public")
    internal = await add_event(desk, "internal", public=False)
    status, text = await desk.post(slash_command("/madoguchi", "events", STAFF, "C_DEFAULT"))
    assert status == 200
    blocks = json.loads(text)["blocks"]
    actions = {
        b["block_id"]: [e["action_id"] for e in b["elements"]] for b in blocks if b["type"] == "actions"
    }
    assert actions[f"event_{public.id}"] == ["event_edit", "event_cancel", "event_announce"]
    assert actions[f"event_{internal.id}"] == ["event_edit", "event_cancel"]
