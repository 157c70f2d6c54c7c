"""The deadline of a ward's answer is checked against when the tap happened (the event's signed
timestamp, never later than its arrival), not when the bot handled it: LINE redelivers events after a
webhook outage, and an inbox backlog delays handling."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.sandbox.line_webhook import postback_event
from tests.wards.world import line_group, line_member, world

ASAHI = 7
MINAMI = 4


async def test_an_answer_tapped_before_the_deadline_and_redelivered_after_counts(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        notice = await w.send_notice()
        assert notice.answer_by is not None
        group = line_group(ASAHI)
        assert group is not None
        ward_id = await w.ward_id(ASAHI)
        event = postback_event(
            line_member(ASAHI), f"notice:{notice.id}:{ward_id}:attend:2", None, group_id=group
        )
        event["timestamp"] = int((notice.answer_by - timedelta(minutes=2)).timestamp() * 1000)
        event["deliveryContext"] = {"isRedelivery": True}
        w.clock.now = notice.answer_by + timedelta(minutes=3)
        await w.tap(notice, ASAHI, "attend", event=event)
        recipient = await w.recipient(notice, ASAHI)
        assert (recipient.answer, recipient.attendees) == ("attend", 2), w.group_messages(ASAHI)[-1]


async def test_a_tap_after_the_deadline_is_still_refused(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        notice = await w.send_notice()
        assert notice.answer_by is not None
        group = line_group(MINAMI)
        assert group is not None
        ward_id = await w.ward_id(MINAMI)
        event = postback_event(
            line_member(MINAMI), f"notice:{notice.id}:{ward_id}:absent", None, group_id=group
        )
        event["timestamp"] = int((notice.answer_by + timedelta(minutes=1)).timestamp() * 1000)
        w.clock.now = notice.answer_by + timedelta(minutes=3)
        await w.tap(notice, MINAMI, "absent", event=event)
        assert (await w.recipient(notice, MINAMI)).answer is None


async def test_a_timestamp_from_the_future_does_not_stretch_the_deadline(tmp_path: Path) -> None:
    """A forged or skewed timestamp later than arrival counts as the arrival, so it cannot help either."""
    async with world(tmp_path) as w:
        notice = await w.send_notice()
        assert notice.answer_by is not None
        group = line_group(MINAMI)
        assert group is not None
        ward_id = await w.ward_id(MINAMI)
        event = postback_event(
            line_member(MINAMI), f"notice:{notice.id}:{ward_id}:absent", None, group_id=group
        )
        event["timestamp"] = int((notice.answer_by + timedelta(days=1)).timestamp() * 1000)
        w.clock.now = notice.answer_by + timedelta(minutes=3)
        await w.tap(notice, MINAMI, "absent", event=event)
        assert (await w.recipient(notice, MINAMI)).answer is None
