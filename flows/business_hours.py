"""The center's opening hours: weekdays, Japanese public holidays and closed dates from configuration.

Used to count "business minutes" (a case unclaimed for 60 business minutes), to tell a citizen who
writes at night when the center will read it, and to compute the day by which a consultation is answered
(N business days: weekends, public holidays and the year-end break 12/29-1/3 are not counted).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

import holidays

# How far ahead the next opening is looked for. A closure listed in closed_dates may last months
# (改修工事のため休館); past a year no reopening date is given (the citizen is told it is not known yet),
# and a calendar with no hours at all (refused at configuration load) cannot loop for ever.
HORIZON_DAYS = 366


@dataclass(frozen=True)
class BusinessCalendar:
    tz: tzinfo
    # weekday (0 = Monday) -> (opening, closing); a missing weekday is closed all day
    hours: Mapping[int, tuple[time, time]]
    closed_dates: frozenset[date] = frozenset()
    public_holidays_closed: bool = True
    # 年末年始: December 29 to January 3, every year.
    year_end_closed: bool = False

    def is_closed_day(self, day: date) -> bool:
        """Closed all day: no opening hours that weekday, a public holiday, the year-end break or a
        configured closed date."""
        return (
            day in self.closed_dates
            or day in self._holidays(day.year)
            or (self.year_end_closed and _year_end(day))
            or day.weekday() not in self.hours
        )

    def _holidays(self, year: int) -> frozenset[date]:
        return _japanese_holidays(year) if self.public_holidays_closed else frozenset()

    def _window(self, day: date) -> tuple[datetime, datetime] | None:
        if self.is_closed_day(day):
            return None
        opening, closing = self.hours[day.weekday()]
        return datetime.combine(day, opening, self.tz), datetime.combine(day, closing, self.tz)

    def is_open(self, moment: datetime) -> bool:
        window = self._window(moment.astimezone(self.tz).date())
        return window is not None and window[0] <= moment < window[1]

    def next_opening(self, moment: datetime) -> datetime | None:
        """`moment` itself when open, else when the center next opens; None when it does not open
        within HORIZON_DAYS."""
        local = moment.astimezone(self.tz)
        for offset in range(HORIZON_DAYS):
            window = self._window(local.date() + timedelta(days=offset))
            if window is None:
                continue
            if local < window[1]:
                return max(local, window[0])
        return None

    def business_minutes_passed(self, start: datetime, minutes: float, now: datetime) -> bool:
        """Whether `minutes` of opening time lie between `start` and `now`. Counts only up to `now`,
        so a closure of any length is a stretch with nothing to count, never an error."""
        remaining = timedelta(minutes=minutes)
        day, last = start.astimezone(self.tz).date(), now.astimezone(self.tz).date()
        while remaining > timedelta(0) and day <= last:
            window = self._window(day)
            if window is not None:
                remaining -= max(timedelta(0), min(window[1], now) - max(window[0], start))
            day += timedelta(days=1)
        return remaining <= timedelta(0)

    def answer_due(self, received: datetime, business_days: int) -> datetime | None:
        """When a consultation received at `received` must be answered: closing time of the
        `business_days`-th business day after the day it is taken in. A consultation received out of
        hours is taken in when the center next opens (Saturday counts as the next business day).
        None when the center does not open again (or not for long enough) within HORIZON_DAYS."""
        opening = self.next_opening(received)
        if opening is None:
            return None
        day, counted = opening.date(), 0
        for _ in range(HORIZON_DAYS):
            if counted >= business_days:
                window = self._window(day)
                assert window is not None
                return window[1]
            day += timedelta(days=1)
            if not self.is_closed_day(day):
                counted += 1
        return None


def _year_end(day: date) -> bool:
    return (day.month == 12 and day.day >= 29) or (day.month == 1 and day.day <= 3)


@functools.cache
def _japanese_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("JP", years=year).keys())


def parse_hours(text: str) -> tuple[time, time] | None:
    """ "09:00-17:00" -> (09:00, 17:00); "" -> None (closed that day)."""
    if not text.strip():
        return None
    opening, _, closing = text.partition("-")
    start, end = time.fromisoformat(opening.strip()), time.fromisoformat(closing.strip())
    if end <= start:
        raise ValueError(f"closing time must be after opening time in {text!r}")
    return start, end
