"""LINE groups and the command line: the bot joining a group tells staff its id and the command that
links it; `madoguchi wards link|list` and `madoguchi notices send` (bad input exits 2 naming what is
wrong); nothing said in a group reaches the citizen desk; a group the bot has left refuses the push."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import ConfigError
from bot.sandbox.line_webhook import join_event, leave_event, text_event
from tests.harness import post_events, settings_for, wait_for
from tests.wards.world import STAFF_CHANNEL, WARDS, World, config, line_group, typed, world

NEW_GROUP = "C" + "ab" * 16


async def cli(w: World, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = await asyncio.to_thread(main, [*args, "--config", str(w.tmp_path / "config.toml")])
    out, err = capsys.readouterr()
    return code, out, err


async def staff_post(w: World, contains: str) -> str:
    def posted() -> bool:
        return any(contains in t for t in w.slack.texts_in(STAFF_CHANNEL))

    await wait_for(posted)
    return next(t for t in w.slack.texts_in(STAFF_CHANNEL) if contains in t)


async def test_a_group_join_tells_staff_the_id_and_the_command_then_wards_link(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with world(tmp_path) as w:
        w.line.set_group(NEW_GROUP, "鶴見区民活動支援センター")
        assert (await post_events(w.bot.base_url, [join_event(NEW_GROUP)]))[0] == 200
        told = await staff_post(w, NEW_GROUP)
        assert f"madoguchi wards link 区名 {NEW_GROUP} --config" in told
        # Chatter in the group is not for the citizen desk: no answer, nobody recorded.
        chat = text_event("U" + "1" * 32, "相談する", w.line.issue_reply_token(NEW_GROUP), group_id=NEW_GROUP)
        await post_events(w.bot.base_url, [chat])

        async def handled() -> bool:
            items = await w.bot.db.read.inbox.for_key(f"line:{NEW_GROUP}")
            return any(i.event_id == chat["webhookEventId"] and i.status == "done" for i in items)

        await wait_for(handled)
        assert (
            w.line.sent_messages(NEW_GROUP) == []
            and await w.bot.db.read.users.by_line_id("U" + "1" * 32) is None
        )

        code, _, err = await cli(w, capsys, "wards", "link", "鶴見", "C123")
        assert code == 2 and "not a LINE group id" in err
        code, _, err = await cli(w, capsys, "wards", "link", "横浜区", NEW_GROUP)
        assert code == 2 and "unknown ward '横浜区'" in err and "鶴見区" in err
        # 神奈川区's group is in the configuration: it wins, so no link is taken.
        code, _, err = await cli(w, capsys, "wards", "link", "神奈川区", NEW_GROUP)
        assert code == 2 and "the configuration names the group" in err
        code, out, _ = await cli(w, capsys, "wards", "link", "鶴見", NEW_GROUP)
        assert code == 0 and f"鶴見区: linked to the LINE group {NEW_GROUP}" in out
        code, _, err = await cli(w, capsys, "wards", "link", "中区", NEW_GROUP)
        assert code == 2 and "already linked to 鶴見区" in err
        code, out, _ = await cli(w, capsys, "wards", "list")
        assert code == 0
        assert f"鶴見区\tC_WARD_00\t{NEW_GROUP} (joined)" in out
        assert f"神奈川区\t-\t{line_group(1)} (no join seen)" in out and "18 wards" in out

        # A notice from the command line reaches 鶴見区 on its Slack channel and its new group.
        meeting = w.clock.now + timedelta(days=10)
        args = ["notices", "send", "--title", "第4回ネットワーク会議", "--at", typed(meeting)]
        code, _, err = await cli(
            w, capsys, *args, "--deadline", typed(meeting + timedelta(days=1)), "--venue", "会議室"
        )
        assert code == 2 and err.strip() == "error: --deadline: must not be after the meeting"
        code, _, err = await cli(w, capsys, *args, "--deadline", typed(meeting - timedelta(days=3)))
        assert code == 2 and "--venue: give a venue, an online URL, or both" in err
        code, _, err = await cli(w, capsys, *args, "--deadline", "来週", "--venue", "会議室")
        assert code == 2 and "--deadline: not a date and time" in err
        agenda = tmp_path / "agenda.txt"
        agenda.write_text("1. 報告\n2. 意見交換\n", encoding="utf-8")
        code, out, _ = await cli(
            w, capsys, *args, "--deadline", typed(meeting - timedelta(days=3)), "--url", "https://meet.example.org/4",
            "--agenda-file", str(agenda), "--materials", "https://example.org/4.pdf",
        )  # fmt: skip
        assert code == 0 and "queued for 18 wards" in out
        # The command queued its rows at the real time; serve's outbox worker finds them on its next look.
        w.clock.now = datetime.now(UTC)
        w.bot.outbox.wake()
        await w.settled()
        [notice] = await w.bot.db.read.notices.listing(w.clock.now)
        tsurumi = await w.recipient(notice, 0)
        assert tsurumi.line_group_id == NEW_GROUP and tsurumi.slack_ts is not None
        [pushed] = [m.message for m in w.line.sent_messages(NEW_GROUP)]
        assert "意見交換" in json.dumps(pushed, ensure_ascii=False)


async def test_a_group_the_bot_left_is_told_to_staff_and_refuses_the_notice_alone(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        left = line_group(1)
        assert left is not None
        w.line.leave_group(left)
        await post_events(w.bot.base_url, [leave_event(left)])
        told = await staff_post(w, "退出")
        assert WARDS[1] in told and left in told
        notice = await w.send_notice()
        refused = await w.recipient(notice, 1)
        assert refused.line_message_id is None
        rows = await w.bot.db.read.outbox.in_order(f"line:{left}")
        assert [r.status for r in rows] == ["failed"] and "invalid" in (rows[0].last_error or "")
        for index in range(len(WARDS)):  # everyone else got it
            if index != 1 and line_group(index):
                assert (await w.recipient(notice, index)).line_message_id is not None


def test_two_wards_cannot_share_a_channel_or_a_group(tmp_path: Path) -> None:
    shared = config().replace('slack_channel = "C_WARD_03"', 'slack_channel = "C_WARD_00"')
    with pytest.raises(ConfigError, match="two wards have the same slack_channel 'C_WARD_00'"):
        settings_for(tmp_path, "http://127.0.0.1:9", shared)
    bad = config().replace(f'line_group_id = "{line_group(1)}"', 'line_group_id = "C_TSURUMI"')
    with pytest.raises(ConfigError, match="expected a LINE group id"):
        settings_for(tmp_path, "http://127.0.0.1:9", bad)
