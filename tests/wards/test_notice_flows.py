"""flows/notices.py on its own: button values read back as hostile input, counting, reminder times."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from flows.notices import AnswerValue, reminder_recipients, reminder_times, tally
from storage.notices import Notice, NoticeRecipient

NOW = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
TOKYO = ZoneInfo("Asia/Tokyo")


def test_answer_values_round_trip() -> None:
    for value in (AnswerValue(3, 7, "attend"), AnswerValue(3, 7, "attend", 5), AnswerValue(3, 7, "maybe")):
        assert AnswerValue.unpack(value.pack()) == value


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "notice:1:2:attend:6",  # more than the offered numbers
        "notice:1:2:absent:2",  # a number only with 出席
        "notice:0:2:attend",
        "notice:01:2:attend",
        "notice:1:2:ATTEND",
        "notice:１:2:attend",  # full-width digits are not ours
        "notice:1:2:attend\n",
        "notice:1:2:attend:2:extra",
        "notice:" + "9" * 30 + ":2:attend",
        "case:1",
    ],
)
def test_anything_but_our_own_values_is_refused(raw: str | None) -> None:
    assert AnswerValue.unpack(raw) is None


def recipient(ward: int, answer: str | None, attendees: int | None = None) -> NoticeRecipient:
    return NoticeRecipient(1, ward, answer, attendees, None, None, None, None, None, None, None, None)  # type: ignore[arg-type]


def test_tally_counts_people_and_lists_who_has_not_answered() -> None:
    rows = [recipient(1, "attend", 3), recipient(2, "attend"), recipient(3, "absent"), recipient(4, "maybe")]
    rows += [recipient(5, None), recipient(6, None)]
    counted = tally(rows, {5: "旭区", 6: "瀬谷区"})
    assert (counted.answered, counted.total, counted.attend, counted.people) == (4, 6, 2, 4)
    assert (counted.absent, counted.maybe, counted.missing) == (1, 1, ("旭", "瀬谷"))
    assert [r.ward_center_id for r in reminder_recipients("unanswered", rows)] == [4, 5, 6]
    assert [r.ward_center_id for r in reminder_recipients("day", rows)] == [1, 2]


def notice(meeting_at: datetime, answer_by: datetime) -> Notice:
    return Notice(
        1, "会議", "", meeting_at, answer_by, "cli", NOW, "会場", "", "", "active",
        None, None, None, None, None, None, None,
    )  # fmt: skip


def test_reminder_times() -> None:
    meeting = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)  # 14:00 in Tokyo
    due = reminder_times(
        notice(meeting, meeting - timedelta(days=7)), timedelta(days=2), time(8, 30), TOKYO, NOW
    )
    assert due["unanswered"] == meeting - timedelta(days=9)
    assert due["day"] == datetime(2026, 12, 1, 8, 30, tzinfo=TOKYO)
    early = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)  # 8:00 in Tokyo: an hour before, 7:00
    before_early = reminder_times(notice(early, early), timedelta(days=2), time(8, 30), TOKYO, NOW)
    assert before_early["day"] == early - timedelta(hours=1)
    # Just after midnight: not the evening before (the reminder says 本日), but at the day's start.
    midnight = datetime(2026, 12, 9, 15, 30, tzinfo=UTC)  # 0:30 in Tokyo on 12月10日
    after_midnight = reminder_times(notice(midnight, midnight), timedelta(days=2), time(8, 30), TOKYO, NOW)
    assert after_midnight["day"] == datetime(2026, 12, 10, 0, 0, tzinfo=TOKYO)
    # Sent a day before its deadline: too late for a reminder two days before.
    soon = reminder_times(
        notice(meeting, NOW + timedelta(days=1)), timedelta(days=2), time(8, 30), TOKYO, NOW
    )
    assert soon["unanswered"] is None and soon["day"] is not None
