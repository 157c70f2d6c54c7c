"""The hostile-input suite: every input is sent to the running server, as an attacker would send it.

Each test asserts the status, that nothing was stored or sent that should not be, that /healthz is
still fine, and (through `server_log`) that the log holds no traceback and no marker text.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness import ServerLog, captured_log

__all__ = ["MARKER", "ServerLog", "server_log"]

# Put into hostile input wherever a citizen's words would go: it must never reach the log.
MARKER = "MARKER-個人情報-7f3a"


@pytest.fixture
def server_log() -> Iterator[ServerLog]:
    with captured_log(MARKER) as log:
        yield log
