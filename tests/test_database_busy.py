"""When another madoguchi or a backup holds the database: `[storage] busy_timeout_ms` is how long a
write waits for it, bounded so a typo cannot make writes hang for hours."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main

CONFIG = """
[storage]
busy_timeout_ms = {busy}

[line]
channel_secret = "s"
channel_access_token = "t"

[slack]
bot_token = "xoxb"
app_token = "xapp"
default_channel = "C1"
"""


@pytest.mark.parametrize("busy", [50_000_000, 60_001, -1])
def test_a_busy_timeout_out_of_bounds_is_a_configuration_error(
    tmp_path: Path, busy: int, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG.format(busy=busy), encoding="utf-8")
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: storage.busy_timeout_ms: ") and err.count("\n") == 1, err
    assert str(busy) in err


@pytest.mark.parametrize("busy", [0, 60_000])
def test_a_busy_timeout_up_to_a_minute_is_accepted(
    tmp_path: Path, busy: int, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG.format(busy=busy), encoding="utf-8")
    assert main(["check-config", str(path)]) == 0, capsys.readouterr().err
