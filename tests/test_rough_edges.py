"""What a first install met (issue 15): every unset secret at once, check-config --config, and no
Bolt warning about an unused token at every start."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from bot.config import ConfigError, load_settings
from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from tests.conftest import EXAMPLE_CONFIG, TEST_ENV
from tests.harness import captured_log, settings_for


def test_every_unset_secret_is_named_in_one_run() -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(EXAMPLE_CONFIG, environ={})
    message = str(error.value)
    for name in TEST_ENV:  # the five the example refers to
        assert name in message, message
    assert message.startswith(f"{EXAMPLE_CONFIG}: 5 environment variables are not set: ")
    assert "LINE_CHANNEL_SECRET (line.channel_secret)" in message


def test_one_unset_secret_keeps_the_short_message() -> None:
    env = {k: v for k, v in TEST_ENV.items() if k != "SLACK_APP_TOKEN"}
    with pytest.raises(
        ConfigError, match=r"slack\.app_token: environment variable SLACK_APP_TOKEN is not set$"
    ):
        load_settings(EXAMPLE_CONFIG, environ=env)


def test_check_config_lists_all_unset_secrets_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in TEST_ENV:
        monkeypatch.delenv(name, raising=False)
    assert main(["check-config", str(EXAMPLE_CONFIG)]) == 2
    err = capsys.readouterr().err
    assert all(name in err for name in TEST_ENV), err
    assert err.count("\n") == 1  # one message


@pytest.mark.usefixtures("test_env")
@pytest.mark.parametrize("form", [["PATH"], ["--config", "PATH"]], ids=["positional", "--config"])
def test_check_config_takes_the_file_either_way(form: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    args = [str(EXAMPLE_CONFIG) if a == "PATH" else a for a in form]
    assert main(["check-config", *args]) == 0
    assert "OK" in capsys.readouterr().out


def test_check_config_without_a_file_or_with_two_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config"]) == 2
    assert main(["check-config", "a.toml", "--config", "b.toml"]) == 2
    assert "check-config --config PATH" in capsys.readouterr().err


async def test_no_unused_token_warning_at_start(
    tmp_path: Path, line: FakeLine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As the README has operators do: the bot token is exported (and also given in the file).
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    with captured_log("no-marker") as log:
        async with Runtime(settings_for(tmp_path, line.base_url)):
            pass
    assert "will be unused" not in log.text
    assert "event=server.started" in log.text
