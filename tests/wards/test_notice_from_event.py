"""A network meeting in the staff's event list goes to the ward centers as a notice, filled in from it."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from bot.sandbox.slack_signing import block_action, slash_command
from storage.events import EventDraft
from tests.wards.world import STAFF, STAFF_CHANNEL, WARDS, slack_channel, typed, world


async def test_a_network_meeting_event_becomes_a_notice_filled_in_from_it(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        starts = w.clock.now + timedelta(days=20)
        meeting = EventDraft(
            uid="network-4",
            kind="network-meeting",
            title="第4回 ネットワーク会議",
            starts_at=starts,
            venue="横浜市役所 会議室",
            description="各区の報告と来年度の予定。" + "詳" * 2000,
            public=False,
        )
        salon = EventDraft(uid="salon-1", kind="salon", title="ミズベサロン", starts_at=starts)
        async with w.bot.db.transaction() as tx:
            event = await tx.events.upsert(meeting, w.clock.now)
            other = await tx.events.upsert(salon, w.clock.now)

        status, text = await w.post(slash_command("/madoguchi", "events", STAFF, STAFF_CHANNEL))
        assert status == 200
        actions = {
            b["block_id"]: [e["action_id"] for e in b["elements"]]
            for b in json.loads(text)["blocks"]
            if b["type"] == "actions"
        }
        assert "notice_from_event" in actions[f"event_{event.id}"]
        assert "notice_from_event" not in actions[f"event_{other.id}"]

        await w.post(block_action(STAFF, "notice_from_event", str(event.id), STAFF_CHANNEL, "1.0"))
        form = await w.opened()
        assert form.view["callback_id"] == "notice_save"
        initial = {
            b["block_id"]: b["element"].get("initial_value", "")
            for b in form.view["blocks"]
            if b["type"] == "input"
        }
        assert initial["title"] == "第4回 ネットワーク会議" and initial["at"] == typed(starts)
        assert initial["venue"] == "横浜市役所 会議室" and initial["deadline"] == ""
        assert initial["agenda"].startswith("各区の報告") and len(initial["agenda"]) == 1500  # Slack's limit

        values = w.form(title=initial["title"], at=initial["at"], deadline=typed(starts - timedelta(days=5)))
        done = await w.submit(form, values)
        assert done["ok"] and "errors" not in done, done
        await w.settled()
        notices = await w.bot.db.read.notices.listing(w.clock.now - timedelta(days=1))
        assert [n.title for n in notices] == ["第4回 ネットワーク会議"]
        recipients = await w.bot.db.read.notices.recipients(notices[0].id)
        assert len(recipients) == len(WARDS)
        assert all(r.slack_ts for i, r in enumerate(recipients) if slack_channel(i))  # every copy posted

        # Not a network meeting: no notice form, a message saying so.
        await w.post(block_action(STAFF, "notice_from_event", str(other.id), STAFF_CHANNEL, "1.0"))
        refused = await w.opened()
        assert refused.view.get("callback_id") != "notice_save"
        assert "見つから" in json.dumps(refused.view, ensure_ascii=False)
