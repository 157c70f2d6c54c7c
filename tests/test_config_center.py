"""[center] contact details and the year-end break: the example ships them, mistakes exit 2 naming the key."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import ConfigError, load_settings
from tests.conftest import EXAMPLE_CONFIG, TEST_ENV
from tests.test_config import MINIMAL, write


def test_the_example_ships_contact_details_and_the_year_end_break() -> None:
    settings = load_settings(EXAMPLE_CONFIG, environ=TEST_ENV)
    center = settings.center
    assert center.phone and center.address and center.hours
    assert center.website.startswith("https://")
    assert settings.business_hours.year_end_closed
    assert settings.calendar.is_closed_day(date(2030, 12, 30))


def test_contact_details_are_optional_and_the_year_end_is_closed_by_default(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, MINIMAL), environ={})
    assert settings.center.phone == "" and settings.center.website == ""
    assert settings.calendar.is_closed_day(date(2027, 1, 2))


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('phone = "045-ABC-4567"', "center.phone: expected digits and hyphens"),
        ('phone = "０４５-１２３-４５６７"', "center.phone: expected digits and hyphens"),
        ('phone = "045-123"', "center.phone: expected digits and hyphens"),
        ('phone = "045--123-4567"', "center.phone: expected digits and hyphens"),
        ('website = "http://example.jp/"', "center.website: expected an https:// address"),
        ('website = "example.jp"', "center.website: expected an https:// address"),
        ('fax = "045-123-4567"', "center.fax: unknown key"),
    ],
    ids=["letters", "full-width", "too-short", "double-hyphen", "http", "no-scheme", "unknown"],
)
def test_bad_contact_details_are_named(
    tmp_path: Path, line: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, MINIMAL + f"\n[center]\n{line}\n")
    with pytest.raises(ConfigError, match=expected):
        load_settings(path, environ={})
    assert main(["check-config", str(path)]) == 2
    assert expected in capsys.readouterr().err


@pytest.mark.parametrize("phone", ["045-123-4567", "0451234567", "090-1234-5678"])
def test_good_phone_numbers_pass(tmp_path: Path, phone: str) -> None:
    settings = load_settings(write(tmp_path, MINIMAL + f'\n[center]\nphone = "{phone}"\n'), environ={})
    assert settings.center.phone == phone
