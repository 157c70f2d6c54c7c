"""The hostile-input suite: every input is sent to the running server, as an attacker would send it.

Each test asserts the status, that nothing was stored or sent that should not be, that /healthz is
still fine, and (through `server_log`) that the log holds no traceback and no marker text.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bot.logs import setup_logging

# Put into hostile input wherever a citizen's words would go: it must never reach the log.
MARKER = "MARKER-個人情報-7f3a"


class ServerLog:
    def __init__(self, stream: io.StringIO) -> None:
        self._stream = stream

    @property
    def text(self) -> str:
        return self._stream.getvalue()

    def assert_clean(self) -> None:
        """No traceback at all, no error line, and not a trace of the marker."""
        text = self.text
        assert MARKER not in text
        assert "traceback=" not in text, text
        assert "level=error" not in text, text


@pytest.fixture
def server_log() -> Iterator[ServerLog]:
    """The log exactly as `serve` writes it (same format, same quiet third-party loggers)."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    saved_levels = {name: logging.getLogger(name).level for name in logging.root.manager.loggerDict}
    stream = io.StringIO()
    setup_logging("INFO", stream)
    try:
        yield ServerLog(stream)
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)
