"""Through the real server and the fake LINE (review 44 D1, D2): three photos sent at once with two open
cases, then the which-case question answered as it is usually typed on a phone, 「１番です」, or as the
question says, 「キャンセルします」."""

from __future__ import annotations

import pytest

from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from flows.texts import Texts
from tests.line.test_image_sets_e2e import deliver, image_set, images_of, open_cases
from tests.line.test_intake_e2e import Citizen
from tests.personal_log import no_personal_data_in_log  # noqa: F401

pytestmark = pytest.mark.usefixtures("no_personal_data_in_log")

TEXTS = Texts.load()


async def test_photos_then_a_typed_ichiban_desu_go_with_case_one(bot: Runtime, line: FakeLine) -> None:
    first, second = await open_cases(bot, 2)
    events = image_set(line, 3)
    said = await deliver(bot, line, events)
    assert len(said) == 1 and said[0].startswith(TEXTS.get("followup.which"))
    assert said[0].endswith(TEXTS.get("followup.which_cancel"))
    answer = await Citizen(bot.base_url, line, bot).type("１番です")
    assert [m.get("text") for m in answer] == [TEXTS.get("followup.media_added", number=first.number)]
    assert await images_of(bot, first) == [e["message"]["id"] for e in events]
    assert await bot.db.read.cases.messages(second.id) == []
    # The typed answer is no message for staff.
    assert [m.body for m in await bot.db.read.cases.messages(first.id) if m.kind == "text"] == []


async def test_photos_then_a_polite_typed_cancel_send_nothing(bot: Runtime, line: FakeLine) -> None:
    first, second = await open_cases(bot, 2)
    await deliver(bot, line, image_set(line, 3))
    answer = await Citizen(bot.base_url, line, bot).type("キャンセルします")
    assert answer[0].get("text") == TEXTS.get("followup.cancelled")
    assert await bot.db.read.cases.messages(first.id) == []
    assert await bot.db.read.cases.messages(second.id) == []
