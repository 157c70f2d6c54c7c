"""The deadline of a ward's answer is checked against when the tap happened (the event's signed
timestamp, never later than its arrival), not when the bot handled it: LINE redelivers events after a
webhook outage, and an inbox backlog delays handling."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.sandbox.line_webhook import postback_event
from storage.notices import Notice
from tests.wards.world import World, line_group, line_member, world

ASAHI = 7
MINAMI = 4


async def tap_stamped(w: World, notice: Notice, ward: int, value: str, at: timedelta, **extra: Any) -> None:
    """The ward taps `value` with the event stamped `at` from the deadline; handled 3 minutes after it."""
    assert notice.answer_by is not None
    group = line_group(ward)
    assert group is not None
    ward_id = await w.ward_id(ward)
    event = postback_event(line_member(ward), f"notice:{notice.id}:{ward_id}:{value}", None, group_id=group)
    event["timestamp"] = int((notice.answer_by + at).timestamp() * 1000)
    event.update(extra)
    w.clock.now = notice.answer_by + timedelta(minutes=3)
    await w.tap(notice, ward, value.split(":")[0], event=event)


async def test_an_answer_tapped_before_the_deadline_and_redelivered_after_counts(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        notice = await w.send_notice()
        await tap_stamped(
            w, notice, ASAHI, "attend:2", timedelta(minutes=-2), deliveryContext={"isRedelivery": True}
        )
        recipient = await w.recipient(notice, ASAHI)
        assert (recipient.answer, recipient.attendees) == ("attend", 2), w.group_messages(ASAHI)[-1]


async def test_a_tap_after_the_deadline_is_still_refused(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        notice = await w.send_notice()
        await tap_stamped(w, notice, MINAMI, "absent", timedelta(minutes=1))
        assert (await w.recipient(notice, MINAMI)).answer is None


async def test_a_timestamp_from_the_future_does_not_stretch_the_deadline(tmp_path: Path) -> None:
    """A forged or skewed timestamp later than arrival counts as the arrival, so it cannot help either."""
    async with world(tmp_path) as w:
        notice = await w.send_notice()
        await tap_stamped(w, notice, MINAMI, "absent", timedelta(days=1))
        assert (await w.recipient(notice, MINAMI)).answer is None
