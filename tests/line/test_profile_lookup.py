"""The citizen's LINE display name (kept for staff and the event roster once they agreed to the
privacy notice): looked up again after a week; LINE failing to answer keeps the name known, only
LINE saying there is none to give (404) clears it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from storage.users import User
from tests.harness import settings_for
from tests.line.test_intake_e2e import USER, Citizen


async def _agreed(tmp_path: Path, line: FakeLine, now: list[datetime]) -> tuple[Runtime, Citizen]:
    bot = Runtime(settings_for(tmp_path, line.base_url), clock=lambda: now[0])
    await bot.start()
    citizen = Citizen(bot.base_url, line, bot)
    await citizen.type("相談する")
    await citizen.tap("yes")
    await citizen.tap("general")  # agreed: the name is looked up
    return bot, citizen


async def _user(bot: Runtime) -> User:
    user = await bot.db.read.users.by_line_id(USER)
    assert user is not None
    return user


async def test_line_failing_to_answer_keeps_the_name_and_it_is_asked_again(
    tmp_path: Path, line: FakeLine
) -> None:
    now = [datetime.now(UTC)]
    bot, citizen = await _agreed(tmp_path, line, now)
    try:
        known = await _user(bot)
        assert known.display_name == "山田 花子"
        now[0] += timedelta(days=8)  # a week on: looked up again
        for failure in (500, 429):
            line.fail_next(failure, path=f"/v2/bot/profile/{USER}")
            await citizen.type("メニュー")
            user = await _user(bot)
            assert (user.display_name, user.display_name_fetched_at) == (
                "山田 花子",
                known.display_name_fetched_at,
            )
        line.set_profile(USER, "山田 はなこ")  # LINE answers again: the new name
        await citizen.type("メニュー")
        user = await _user(bot)
        assert user.display_name == "山田 はなこ" and user.display_name_fetched_at == now[0]
    finally:
        await bot.stop()


async def test_line_saying_there_is_no_profile_clears_the_name(tmp_path: Path, line: FakeLine) -> None:
    now = [datetime.now(UTC)]
    bot, citizen = await _agreed(tmp_path, line, now)
    try:
        now[0] += timedelta(days=8)
        del line.profiles[USER]  # blocked, or no longer a friend: LINE answers 404
        await citizen.tap("個人")
        user = await _user(bot)
        assert (user.display_name, user.display_name_fetched_at) == (None, now[0])
    finally:
        await bot.stop()
