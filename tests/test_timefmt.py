"""storage.timefmt writes a stored time without strftime: the same text as the strftime formula it
replaced, for every aware datetime."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from storage.timefmt import from_db, to_db

FORMULA = "%Y-%m-%dT%H:%M:%S.%fZ"


def formula(moment: datetime) -> str:
    """What to_db wrote before (and what the stored data holds)."""
    return moment.astimezone(UTC).strftime(FORMULA)


def _zones(rng: random.Random) -> list[timezone | ZoneInfo]:
    fixed = [UTC, timezone(timedelta(hours=9)), timezone(timedelta(hours=-12)), timezone(timedelta(hours=14))]
    odd = [
        timezone(timedelta(minutes=rng.randint(-1439, 1439), seconds=rng.randint(0, 59), microseconds=us))
        for us in (0, 1, 999_999)
    ]
    named = [
        ZoneInfo(name) for name in ("Asia/Tokyo", "America/New_York", "Europe/London", "Australia/Lord_Howe")
    ]
    return [*fixed, *odd, *named]


def test_the_same_text_as_the_strftime_formula_for_any_aware_moment() -> None:
    rng = random.Random(14)
    zones = _zones(rng)
    checked = 0
    for _ in range(20_000):
        year = rng.choice([rng.randint(2, 9998), rng.randint(1970, 2100), rng.randint(2, 999), 1000, 999])
        moment = datetime(
            year,
            rng.randint(1, 12),
            rng.randint(1, 28),
            rng.randint(0, 23),
            rng.randint(0, 59),
            rng.randint(0, 59),
            rng.choice([0, 1, 999_999, rng.randint(0, 999_999)]),
            tzinfo=rng.choice(zones),
            fold=rng.randint(0, 1),
        )
        assert to_db(moment) == formula(moment), repr(moment)
        checked += 1
    assert checked == 20_000


@pytest.mark.parametrize("zone", ["America/New_York", "Europe/London", "Australia/Lord_Howe"])
def test_both_sides_of_a_clock_change_fold_included(zone: str) -> None:
    """Wall times a clock change repeats or skips: fold picks the moment, the text follows it."""
    tz = ZoneInfo(zone)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for minutes in range(0, 366 * 24 * 60, 30):
        local = (start + timedelta(minutes=minutes)).astimezone(tz)
        for fold in (0, 1):
            moment = local.replace(fold=fold)
            assert to_db(moment) == formula(moment), repr(moment)


def test_the_ends_of_the_calendar() -> None:
    for moment in (
        datetime.min.replace(tzinfo=UTC),
        datetime(1, 1, 1, 9, tzinfo=timezone(timedelta(hours=9))),
        datetime(999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(1000, 1, 1, tzinfo=UTC),
        datetime(999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-1))),
        datetime.max.replace(tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=1))),
    ):
        assert to_db(moment) == formula(moment), repr(moment)
    for beyond in (
        datetime.min.replace(tzinfo=timezone(timedelta(hours=1))),
        datetime.max.replace(tzinfo=timezone(timedelta(hours=-1))),
    ):
        with pytest.raises(OverflowError):
            formula(beyond)
        with pytest.raises(OverflowError):
            to_db(beyond)


def test_a_datetime_subclass_gets_the_formula_too() -> None:
    class Stamp(datetime):
        pass

    moment = Stamp(2026, 11, 30, 1, 2, 3, tzinfo=timezone(timedelta(hours=9)))
    assert to_db(moment) == formula(moment) == "2026-11-29T16:02:03.000000Z"


def test_read_back_to_the_same_moment() -> None:
    rng = random.Random(15)
    for _ in range(2_000):
        moment = datetime(2000, 1, 1, tzinfo=UTC) + timedelta(microseconds=rng.randint(0, 10**17))
        assert from_db(to_db(moment)) == moment
