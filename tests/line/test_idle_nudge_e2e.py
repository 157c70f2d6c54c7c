"""The idle nudge over LINE: the question the citizen stopped at, pushed again, answerable by typing.

It used to ask 「続けますか？」 with 続ける / キャンセル as quick replies only: on LINE for PC (no quick
replies) the citizen typed はい or 続ける, which nothing was waiting for, and it became their name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from bot.clock import utc_now
from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from flows.texts import Texts
from tests.harness import settings_for, wait_for
from tests.line.test_intake_e2e import USER, Citizen

TEXTS = Texts.load()


@dataclass
class Clock:
    """Real time moved on by hand: the sweeper sees the citizen silent for as long as the test says."""

    ahead: timedelta = field(default_factory=timedelta)

    def __call__(self) -> datetime:
        return utc_now() + self.ahead


async def test_the_nudge_asks_the_name_again_and_the_typed_name_is_taken(
    tmp_path: Path, line: FakeLine
) -> None:
    clock = Clock()
    async with Runtime(settings_for(tmp_path, line.base_url), clock) as bot:
        citizen = Citizen(bot.base_url, line, bot)
        await citizen.type("相談する")
        await citizen.type("同意します")
        await citizen.type("1")
        name = await citizen.type("個人")
        assert name[-1]["text"] == TEXTS.get("intake.name.prompt")

        before = len(line.sent_messages(USER))
        clock.ahead = timedelta(minutes=31)
        await bot.idle.run()
        await wait_for(lambda: len(line.sent_messages(USER)) == before + 2)
        nudge = [m.message for m in line.sent_messages(USER)[before:]]
        assert [m["text"] for m in nudge] == [
            TEXTS.get("flow.nudge") + "\n" + TEXTS.get("flow.nudge_cancel"),
            TEXTS.get("intake.name.prompt"),
        ]
        assert nudge[-1]["quickReply"] == name[-1]["quickReply"]  # 戻る, キャンセル: as asked before

        clock.ahead = timedelta(minutes=45)
        said = await citizen.type("山田 花子")
        assert said[-1]["text"].startswith(TEXTS.get("intake.furigana.prompt"))
        user = await bot.db.read.users.by_line_id(USER)
        assert user is not None
        conversation = await bot.db.read.conversations.get(user.id)
        assert conversation is not None and conversation.data["answers"]["name"] == "山田 花子"
