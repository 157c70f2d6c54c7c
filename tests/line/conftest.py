from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from tests.harness import LINE_TOKEN, settings_for


@pytest.fixture
async def line() -> AsyncIterator[FakeLine]:
    async with FakeLine(access_token=LINE_TOKEN) as fake:
        fake.set_profile("U_HANAKO", "山田 花子")
        yield fake


@pytest.fixture
async def bot(tmp_path: Path, line: FakeLine) -> AsyncIterator[Runtime]:
    async with Runtime(settings_for(tmp_path, line.base_url)) as runtime:
        yield runtime
