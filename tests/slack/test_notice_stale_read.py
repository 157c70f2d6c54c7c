"""The notice desk's buttons (区センターへ通知, 変更, 中止) check staff first, then read the row (review 48,
D1): with staff checked by channel membership the check is a Slack call that can take seconds, and a
meeting or notice cancelled meanwhile must not open as if it were still on. A notice form filled in from
a meeting carries the meeting's id: once the meeting is cancelled, sending it is refused. An edit form
carries the notice's version: a save over another staff member's later change is refused (D2)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.fake_slack import ViewEvent
from bot.sandbox.slack_signing import block_action
from storage.events import Event, EventDraft
from tests.harness import settings_for
from tests.slack.test_deletion_race import SlowMembers
from tests.wards.world import STAFF, STAFF_CHANNEL, Clock, World, config, world


@asynccontextmanager
async def slow_world(tmp_path: Path) -> AsyncIterator[tuple[World, SlowMembers]]:
    """Staff are the members of the staff channel (no list): every check is a look-up."""
    clock = Clock()
    async with FakeLine(access_token="test-access-token") as line, SlowMembers() as slack:
        slack.set_members(STAFF_CHANNEL, [STAFF])
        slack.set_members("C_DEFAULT", [STAFF])
        settings = settings_for(tmp_path, line.base_url, config(), slack_api_url=slack.api_url)
        async with Runtime(settings, clock) as bot:
            yield World(bot, line, slack, clock, tmp_path), slack


async def meeting(w: World) -> Event:
    draft = EventDraft(
        uid="network-9", kind="network-meeting", title="第9回 ネットワーク会議",
        starts_at=w.clock.now + timedelta(days=20), venue="会議室", public=False,
    )  # fmt: skip
    async with w.bot.db.transaction() as tx:
        return await tx.events.upsert(draft, w.clock.now)


def initial(form: ViewEvent) -> dict[str, str]:
    return {b["block_id"]: b["element"].get("initial_value", "") for b in form.view["blocks"]}


async def sent(w: World) -> list[str]:
    return [n.title for n in await w.bot.db.read.notices.listing(w.clock.now - timedelta(days=1))]


async def test_notice_form_from_an_event_cancelled_during_the_staff_check(tmp_path: Path) -> None:
    async with slow_world(tmp_path) as (w, slack):
        event = await meeting(w)
        slack.gate = asyncio.Event()
        trigger = slack.issue_trigger_id(STAFF)
        pressing = asyncio.create_task(
            w.post(block_action(STAFF, "notice_from_event", str(event.id), STAFF_CHANNEL, trigger_id=trigger))
        )
        await asyncio.wait_for(slack.arrived.wait(), 10)
        async with w.bot.db.transaction() as tx:  # another staff member cancels the meeting meanwhile
            await tx.events.set_status(event.id, "cancelled", w.clock.now)
        slack.gate.set()
        assert (await pressing)[0] == 200
        shown = await w.opened()
        assert shown.view.get("callback_id") != "notice_save", shown.view
        assert "見つから" in json.dumps(shown.view, ensure_ascii=False)
        assert await sent(w) == []


async def test_notice_edit_and_cancel_of_a_notice_cancelled_during_the_staff_check(tmp_path: Path) -> None:
    async with slow_world(tmp_path) as (w, slack):
        notice = await w.send_notice()
        for action in ("notice_edit", "notice_cancel"):
            w.clock.now += timedelta(minutes=5)  # past the membership cache: the next check asks Slack
            slack.gate = asyncio.Event()
            slack.arrived.clear()
            trigger = slack.issue_trigger_id(STAFF)
            pressing = asyncio.create_task(
                w.post(block_action(STAFF, action, str(notice.id), STAFF_CHANNEL, trigger_id=trigger))
            )
            await asyncio.wait_for(slack.arrived.wait(), 10)
            if action == "notice_edit":
                async with w.bot.db.transaction() as tx:
                    await tx.notices.cancel(notice.id, w.clock.now)
            slack.gate.set()
            assert (await pressing)[0] == 200
            shown = await w.opened()
            assert shown.view.get("callback_id") not in ("notice_save", "notice_cancel_confirm"), shown.view
            assert "見つから" in json.dumps(shown.view, ensure_ascii=False)


async def test_a_form_from_a_meeting_cancelled_after_it_opened_sends_nothing(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        event = await meeting(w)
        await w.post(block_action(STAFF, "notice_from_event", str(event.id), STAFF_CHANNEL, "1.0"))
        form = await w.opened()
        assert form.view["callback_id"] == "notice_save"
        async with w.bot.db.transaction() as tx:  # cancelled in the event list while the form is open
            await tx.events.set_status(event.id, "cancelled", w.clock.now)
        filled = initial(form)
        done = await w.submit(form, w.form(title=filled["title"], at=filled["at"]))
        assert "中止" in done["errors"]["title"], done
        await w.settled()
        assert await sent(w) == []
        assert not any(w.slack.messages_in(STAFF_CHANNEL))  # no answer sheet either


async def test_a_form_from_a_meeting_still_on_sends_once(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        event = await meeting(w)
        await w.post(block_action(STAFF, "notice_from_event", str(event.id), STAFF_CHANNEL, "1.0"))
        form = await w.opened()
        assert json.loads(form.view["private_metadata"])["event_id"] == event.id
        filled = initial(form)
        values = w.form(title=filled["title"], at=filled["at"])
        done = await w.submit(form, values)
        assert "errors" not in done, done
        again = await w.submit(form, values)  # a retried submission of the same view
        assert "errors" not in again, again
        await w.settled()
        assert await sent(w) == ["第9回 ネットワーク会議"]


async def test_two_staff_changing_one_notice_the_later_save_is_refused(tmp_path: Path) -> None:
    """Review 48, D2: the later 変更 silently undid the earlier one, and every ward got a 変更 copy with
    the details just replaced."""
    async with world(tmp_path) as w:
        notice = await w.send_notice()
        forms = []
        for _ in range(2):  # staff A and B press 変更 at the same time
            trigger = w.slack.issue_trigger_id(STAFF)
            await w.post(
                block_action(STAFF, "notice_edit", str(notice.id), STAFF_CHANNEL, trigger_id=trigger)
            )
            forms.append(await w.opened())
        a, b = forms
        w.clock.now += timedelta(minutes=1)
        moved = w.form(venue="市民協働推進センター 会議室B")
        done = await w.submit(b, moved)
        assert "errors" not in done, done
        await w.settled()
        changed = await w.bot.db.read.notices.get(notice.id)
        assert changed is not None and changed.venue == "市民協働推進センター 会議室B"
        posts = len(w.slack.find_calls("chat.postMessage"))

        w.clock.now += timedelta(minutes=1)
        stale = await w.submit(a, w.form(title="第3回 ネットワーク会議（修正）"))
        assert list(stale.get("errors", {})) == ["title"], stale
        assert "開き直して" in stale["errors"]["title"]
        again = await w.submit(b, moved)  # B's form submitted twice: nothing sent again
        assert "errors" not in again, again
        await w.settled()
        assert await w.bot.db.read.notices.get(notice.id) == changed
        assert len(w.slack.find_calls("chat.postMessage")) == posts  # no ward told anything

        trigger = w.slack.issue_trigger_id(STAFF)
        await w.post(block_action(STAFF, "notice_edit", str(notice.id), STAFF_CHANNEL, trigger_id=trigger))
        reopened = await w.opened()
        shown = initial(reopened)
        assert shown["venue"] == "市民協働推進センター 会議室B"
        fixed = await w.submit(reopened, w.form(**{**shown, "title": "第3回 ネットワーク会議（修正）"}))
        assert "errors" not in fixed, fixed
        final = await w.bot.db.read.notices.get(notice.id)
        assert final is not None
        assert (final.title, final.venue) == (
            "第3回 ネットワーク会議（修正）",
            "市民協働推進センター 会議室B",
        )
