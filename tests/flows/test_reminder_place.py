"""Where an event takes place, as reminders, rescheduling notices and ward notices say it."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from flows.reminders import event_notice, place_text
from flows.texts import Texts
from tests.conftest import NOW

TEXTS = Texts.load()


@pytest.mark.parametrize(
    ("venue", "url", "said"),
    [
        ("区民会館", "", "区民会館"),
        ("", "https://example.org/meet", "https://example.org/meet"),
        ("区民会館", "https://example.org/meet", "区民会館 / https://example.org/meet"),
        # Neither: nothing says the event is online (it was 「オンライン」).
        ("", "", "未定"),
        ("  ", " ", "未定"),
    ],
)
def test_the_place_is_what_staff_gave_or_undecided(venue: str, url: str, said: str) -> None:
    assert place_text(TEXTS, venue, url) == said


def test_a_rescheduled_event_without_a_place_is_not_said_to_be_online() -> None:
    notice = event_notice(
        TEXTS, "rescheduled", title="講座", starts_at=NOW, venue="", online_url="", tz=ZoneInfo("Asia/Tokyo")
    )
    assert "場所：未定" in notice["text"] and "オンライン" not in notice["text"]
