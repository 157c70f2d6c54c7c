"""check-config: the example is valid, and every kind of mistake exits 2 naming the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import ConfigError, load_settings
from tests.conftest import EXAMPLE_CONFIG, ROOT, TEST_ENV

MINIMAL = """
[line]
channel_secret = "s"
channel_access_token = "t"

[slack]
bot_token = "xoxb"
app_token = "xapp"
default_channel = "C1"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_config_is_valid_and_ships_the_centers_defaults() -> None:
    settings = load_settings(EXAMPLE_CONFIG, environ=TEST_ENV)
    assert settings.center.timezone == "Asia/Tokyo"
    assert [c.label for c in settings.consultation.categories][:2] == ["総合相談", "協働の相談・提案"]
    assert len(settings.wards) == 18
    assert settings.wards[0].ward == "鶴見区" and settings.wards[-1].ward == "瀬谷区"
    assert settings.line.channel_secret == TEST_ENV["LINE_CHANNEL_SECRET"]
    assert settings.line.api_base_url == "https://api.line.me"
    assert settings.database_path == ROOT / "var" / "madoguchi.sqlite3"


def test_minimal_config_takes_defaults(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, MINIMAL), environ={})
    assert settings.server.port == 8080
    assert len(settings.consultation.categories) == 6
    assert settings.slack.api_base_url == "https://slack.com/api/"


def test_check_config_accepts_the_example(
    test_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-config", str(EXAMPLE_CONFIG)]) == 0
    assert "OK" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (MINIMAL + "\n[server]\nprot = 8080\n", "server.prot: unknown key"),
        (MINIMAL.replace("bot_token", "bot_tokne"), "slack.bot_tokne: unknown key"),
        ("colour = 1\n" + MINIMAL, "colour: unknown key"),
        (MINIMAL + '\n[server]\nport = "eighty"\n', "server.port: Input should be a valid integer"),
        (MINIMAL + '\n[[wards]]\nward = 7\nname = "x"\n', "wards[1].ward: Input should be a valid string"),
        (MINIMAL + '\n[center]\ntimezone = "Asia/Tokio"\n', "center.timezone: unknown timezone 'Asia/Tokio'"),
        (
            MINIMAL.replace('channel_secret = "s"', 'channel_secret = "${NOT_SET_ANYWHERE}"'),
            "line.channel_secret: environment variable NOT_SET_ANYWHERE is not set",
        ),
        (MINIMAL + "\n[server]\nhost = \n", "line 12, column 8: invalid TOML"),
        (
            MINIMAL.replace('channel_access_token = "t"\n', ""),
            "line.channel_access_token: required key is missing",
        ),
        (MINIMAL + '\n[line]\napi_base_url = "http://x/"\n', "invalid TOML"),
        (MINIMAL.replace('app_token = "xapp"\n', ""), 'app_token is required when mode = "socket"'),
        (MINIMAL + '\n[business_hours]\nmonday = "17:00-09:00"\n', "business_hours.monday: expected"),
    ],
    ids=[
        "unknown-key",
        "typo-nested",
        "unknown-top",
        "wrong-type",
        "wrong-type-in-array",
        "timezone",
        "env-unset",
        "toml-syntax",
        "missing",
        "duplicate-table",
        "socket-needs-app-token",
        "bad-opening-hours",
    ],
)
def test_mistakes_are_named(
    tmp_path: Path, text: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert str(caught.value).startswith(f"{path}: ")
    assert expected in str(caught.value)
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1


def categories_toml(count: int) -> str:
    return "".join(f'\n[[consultation.categories]]\nid = "c{n}"\nlabel = "相談{n}"\n' for n in range(count))


def test_check_config_refuses_more_categories_than_citizens_can_page_through(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The category question pages its quick replies; more than two pages' worth is refused by name."""
    assert (
        len(load_settings(write(tmp_path, MINIMAL + categories_toml(20)), environ={}).consultation.categories)
        == 20
    )
    path = write(tmp_path, MINIMAL + categories_toml(21))
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert (
        "consultation.categories: at most 20 categories" in err and "got 21" in err and err.count("\n") == 1
    )


def test_trailing_slash_on_line_api_base_is_refused(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        'channel_access_token = "t"', 'channel_access_token = "t"\napi_base_url = "http://x/"'
    )
    with pytest.raises(ConfigError, match=r"line.api_base_url: must not end with '/'"):
        load_settings(write(tmp_path, text), environ={})


def test_a_wrong_secret_type_is_not_echoed(tmp_path: Path) -> None:
    text = MINIMAL.replace('channel_secret = "s"', "channel_secret = 123456789")
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text), environ={})
    assert "line.channel_secret" in str(caught.value) and "123456789" not in str(caught.value)


@pytest.mark.parametrize("table", ["line", "slack"])
def test_a_table_written_as_an_array_of_tables_does_not_show_its_secrets(tmp_path: Path, table: str) -> None:
    """[[line]] for [line] (the file has [[wards]] too): the error named the section and showed its
    value, the first 40-odd characters of channel_secret or bot_token."""
    text = MINIMAL.replace('channel_secret = "s"', 'channel_secret = "0123456789abcdef-SECRET"').replace(
        'bot_token = "xoxb"', 'bot_token = "xoxb-0123456789-SECRET"'
    )
    text = text.replace(f"[{table}]", f"[[{table}]]")
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text), environ={})
    said = str(caught.value)
    assert said.startswith(f"{tmp_path / 'config.toml'}: {table}:") and "SECRET" not in said, said


def test_a_config_saved_with_a_byte_order_mark_loads(tmp_path: Path) -> None:
    """Windows Notepad's UTF-8 may start with a BOM: it was refused as line 1, column 1."""
    path = write(tmp_path, MINIMAL)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert load_settings(path, environ={}).line.channel_secret == "s"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "nope.toml")


def test_env_values_are_substituted_inside_strings(tmp_path: Path) -> None:
    text = MINIMAL.replace('channel_secret = "s"', 'channel_secret = "pre-${SECRET_PART}"')
    settings = load_settings(write(tmp_path, text), environ={"SECRET_PART": "abc"})
    assert settings.line.channel_secret == "pre-abc"


def test_console_entry_point_exits_2(tmp_path: Path) -> None:
    """The real process, as an operator runs it: `python -m bot check-config` on a typo."""
    path = write(tmp_path, MINIMAL.replace("default_channel", "default_chanel"))
    result = subprocess.run(
        [sys.executable, "-m", "bot", "check-config", str(path)], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 2
    assert "slack.default_chanel: unknown key" in result.stderr
