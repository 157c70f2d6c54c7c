"""A ward's LINE group changes while a notice is open (the configuration names a new group): the
notice's reminders, changes and cancellation go to the ward's group now, where its answers are taken,
never to the group it had when the notice was sent (dissolved, or another ward's by now)."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

from bot.cli import main
from bot.sandbox.slack_signing import block_action
from tests.wards.world import STAFF, STAFF_CHANNEL, World, line_group, world

NEW_GROUP = "C" + "cd" * 16
ASAHI = 7  # 旭区: LINE only


async def cli(w: World, *args: str) -> int:
    return await asyncio.to_thread(main, [*args, "--config", str(w.tmp_path / "config.toml")])


def texts(w: World, group: str) -> list[str]:
    return [json.dumps(m.message, ensure_ascii=False) for m in w.line.sent_messages(group)]


async def test_reminders_and_the_cancellation_follow_the_wards_current_group(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        notice = await w.send_notice()
        assert notice.answer_by is not None
        old = line_group(ASAHI)
        assert old is not None
        sent_to_old = len(texts(w, old))
        # 旭区 moves to a new group (the old one was a mistake, or was dissolved).
        w.line.set_group(NEW_GROUP, "旭区民活動支援センター")
        path = w.tmp_path / "config.toml"
        path.write_text(path.read_text().replace(old, NEW_GROUP))
        assert await cli(w, "wards", "list") == 0
        ward = await w.bot.db.read.wards.by_ward("旭区")
        assert ward is not None and ward.line_group_id == NEW_GROUP

        w.clock.now = notice.answer_by - timedelta(days=2) + timedelta(minutes=1)
        await w.bot.notice_reminders.run()
        await w.settled()
        assert any("回答のお願い" in t for t in texts(w, NEW_GROUP)), texts(w, NEW_GROUP)
        assert len(texts(w, old)) == sent_to_old
        # The reminder's buttons answer from the new group.
        await w.tap(notice, ASAHI, "absent", group=NEW_GROUP)
        assert (await w.recipient(notice, ASAHI)).answer == "absent"

        # Staff cancel it: the notice goes to the new group too.
        [sheet] = w.slack.messages_in(STAFF_CHANNEL)
        trigger = w.slack.issue_trigger_id(STAFF)
        await w.post(
            block_action(
                STAFF, "notice_cancel", str(notice.id), STAFF_CHANNEL, sheet["ts"], trigger_id=trigger
            )
        )
        assert (await w.submit(await w.opened(), {}))["ok"]
        await w.settled()
        assert len(texts(w, old)) == sent_to_old
        assert "中止" in texts(w, NEW_GROUP)[-1]
