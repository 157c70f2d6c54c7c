"""Business hours: weekdays, Japanese public holidays and configured closed dates."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from flows.business_hours import BusinessCalendar, parse_hours
from flows.dates import day_text, moment_text
from flows.texts import Texts

TOKYO = ZoneInfo("Asia/Tokyo")
WEEKDAYS_9_TO_5 = {day: (time(9), time(17)) for day in range(5)}


def jst(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TOKYO)


@pytest.fixture
def calendar() -> BusinessCalendar:
    return BusinessCalendar(TOKYO, WEEKDAYS_9_TO_5, frozenset({date(2026, 12, 29)}))


def test_open_and_closed(calendar: BusinessCalendar) -> None:
    assert calendar.is_open(jst(2026, 11, 20, 9, 0))  # Friday, opening minute
    assert not calendar.is_open(jst(2026, 11, 20, 17, 0))  # closing time
    assert not calendar.is_open(jst(2026, 11, 21, 10, 0))  # Saturday
    assert not calendar.is_open(jst(2026, 11, 23, 10, 0))  # 勤労感謝の日, a Monday
    assert not calendar.is_open(jst(2026, 12, 29, 10, 0))  # configured closed date
    assert calendar.is_open(datetime.fromisoformat("2026-11-24T00:30:00+00:00"))  # 09:30 in Tokyo


def test_business_minutes_skip_the_weekend_and_a_public_holiday(calendar: BusinessCalendar) -> None:
    friday_evening = jst(2026, 11, 20, 16, 30)
    for minutes, passed_at in ((30, jst(2026, 11, 20, 17, 0)), (60, jst(2026, 11, 24, 9, 30))):
        assert calendar.business_minutes_passed(friday_evening, minutes, passed_at)
        assert not calendar.business_minutes_passed(friday_evening, minutes, passed_at - timedelta(minutes=1))
    assert not calendar.business_minutes_passed(friday_evening, 240, jst(2026, 11, 24, 12, 29))
    assert calendar.business_minutes_passed(friday_evening, 240, jst(2026, 11, 24, 12, 30))
    saturday = jst(2026, 11, 21, 11, 0)
    assert not calendar.business_minutes_passed(saturday, 1, jst(2026, 11, 24, 9, 0))
    assert calendar.business_minutes_passed(saturday, 1, jst(2026, 11, 24, 9, 1))


def test_next_opening(calendar: BusinessCalendar) -> None:
    assert calendar.next_opening(jst(2026, 11, 24, 10, 0)) == jst(2026, 11, 24, 10, 0)
    assert calendar.next_opening(jst(2026, 11, 24, 7, 0)) == jst(2026, 11, 24, 9, 0)
    assert calendar.next_opening(jst(2026, 11, 20, 18, 0)) == jst(2026, 11, 24, 9, 0)
    assert calendar.next_opening(jst(2026, 12, 28, 17, 30)) == jst(2026, 12, 30, 9, 0)


def test_a_calendar_with_no_hours_gives_no_date_and_counts_nothing() -> None:
    # Refused at configuration load (tests/flows/test_long_closure.py); built directly, it does not loop.
    empty = BusinessCalendar(TOKYO, {})
    assert empty.next_opening(jst(2026, 11, 20, 9, 0)) is None
    assert empty.answer_due(jst(2026, 11, 20, 9, 0), 3) is None
    assert not empty.business_minutes_passed(jst(2026, 11, 20, 9, 0), 1, jst(2027, 11, 20, 9, 0))


@pytest.mark.parametrize(("text", "parsed"), [("09:00-17:00", (time(9), time(17))), ("", None), (" ", None)])
def test_parse_hours(text: str, parsed: tuple[time, time] | None) -> None:
    assert parse_hours(text) == parsed


@pytest.mark.parametrize("text", ["17:00-09:00", "9-5", "09:00"])
def test_bad_hours_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_hours(text)


def test_the_year_end_break_is_closed_every_year() -> None:
    calendar = BusinessCalendar(TOKYO, WEEKDAYS_9_TO_5, year_end_closed=True)
    for day in (
        date(2026, 12, 29),
        date(2026, 12, 31),
        date(2027, 1, 1),
        date(2027, 1, 3),
        date(2031, 12, 30),
    ):
        assert calendar.is_closed_day(day)
    assert not calendar.is_closed_day(date(2026, 12, 28))  # a Monday
    assert not calendar.is_closed_day(date(2027, 1, 4))  # a Monday
    assert calendar.next_opening(jst(2026, 12, 28, 17, 30)) == jst(2027, 1, 4, 9, 0)


def test_the_answer_date_skips_weekends_holidays_and_the_year_end(calendar: BusinessCalendar) -> None:
    # Friday afternoon, open: Monday 23rd is 勤労感謝の日, so Tue, Wed, Thu.
    assert calendar.answer_due(jst(2026, 11, 20, 16, 30), 3) == jst(2026, 11, 26, 17, 0)
    # Saturday night: taken in on Tuesday 24th, then Wed, Thu, Fri.
    assert calendar.answer_due(jst(2026, 11, 21, 20, 0), 3) == jst(2026, 11, 27, 17, 0)
    # Tuesday before opening: taken in that day.
    assert calendar.answer_due(jst(2026, 11, 24, 7, 0), 1) == jst(2026, 11, 25, 17, 0)
    year_end = BusinessCalendar(TOKYO, WEEKDAYS_9_TO_5, year_end_closed=True)
    # Friday 25 December: Mon 28th, then the break until 3 January, then Mon 4th and Tue 5th.
    assert year_end.answer_due(jst(2026, 12, 25, 10, 0), 3) == jst(2027, 1, 5, 17, 0)


def test_dates_carry_the_weekday() -> None:
    texts = Texts.load()
    assert day_text(texts, jst(2025, 12, 1, 9, 0), TOKYO) == "12月1日(月)"
    assert (
        moment_text(texts, datetime.fromisoformat("2025-12-01T00:05:00+00:00"), TOKYO) == "12月1日(月) 9:05"
    )
