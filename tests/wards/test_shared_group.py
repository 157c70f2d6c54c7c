"""One LINE group, one ward: an answer from a group counts as its ward's, so no two wards may hold it.
A ward linked by mistake with `wards link`, then the group named for another ward in the configuration
(the documented way to move it): the configuration wins and the mistaken link goes. Linking a group
another ward holds is refused naming that ward. Should rows still share a group, an answer from it is
taken for neither ward."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from bot.cli import main
from bot.sandbox.line_webhook import join_event
from tests.harness import post_events
from tests.wards.world import WARDS, World, line_group, world

NEW_GROUP = "C" + "ab" * 16
TSURUMI = 0  # Slack only
NAKA = 3  # Slack only
ASAHI = 7  # LINE only


async def cli(w: World, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = await asyncio.to_thread(main, [*args, "--config", str(w.tmp_path / "config.toml")])
    out, err = capsys.readouterr()
    return code, out, err


def errors(err: str) -> list[str]:
    """The command's error lines (stderr also carries the log, the running bot's too, so a line count
    of stderr would be racy)."""
    return [line for line in err.splitlines() if line.startswith("error:")]


async def test_the_configuration_takes_a_group_from_a_ward_linked_to_it_by_mistake(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with world(tmp_path) as w:
        w.line.set_group(NEW_GROUP, "中区民活動支援センター")
        assert (await post_events(w.bot.base_url, [join_event(NEW_GROUP)]))[0] == 200
        code, _, _ = await cli(w, capsys, "wards", "link", "鶴見", NEW_GROUP)  # the wrong ward
        assert code == 0
        code, _, err = await cli(w, capsys, "wards", "link", "中区", NEW_GROUP)
        [refused] = errors(err)
        assert (
            code == 2 and "already linked to 鶴見区" in refused and refused.endswith("in the configuration)")
        )
        # The operator moves it the documented way: the configuration names the group for 中区.
        path = w.tmp_path / "config.toml"
        text = path.read_text()
        block = f'ward = "{WARDS[NAKA]}"\nname = "中区民活動支援センター"\nslack_channel = "C_WARD_03"\n'
        assert block in text
        path.write_text(text.replace(block, block + f'line_group_id = "{NEW_GROUP}"\n'))
        code, _, err = await cli(w, capsys, "wards", "list")  # any start syncs the table
        assert code == 0
        linked = [r.ward for r in await w.bot.db.read.wards.all() if r.line_group_id == NEW_GROUP]
        assert linked == [WARDS[NAKA]]
        # The command's log (stderr) says which ward lost it, by id only.
        [taken] = [line for line in err.splitlines() if "event=wards.line_group_taken" in line]
        assert f"ward={await w.ward_id(TSURUMI)} " in taken + " " and NEW_GROUP not in taken
        # Now 鶴見区 cannot take it back by a link either.
        code, _, err = await cli(w, capsys, "wards", "link", "鶴見", NEW_GROUP)
        [refused] = errors(err)
        assert (
            code == 2 and f"already linked to {WARDS[NAKA]}" in refused and refused.endswith("configuration)")
        )

        # The running bot reads the table too: 中区's card alone goes to the group, and its answer counts.
        notice = await w.send_notice()
        assert (await w.recipient(notice, TSURUMI)).line_group_id is None
        assert len(w.line.sent_messages(NEW_GROUP)) == 1
        await w.tap(notice, NAKA, "attend", group=NEW_GROUP)
        assert (await w.recipient(notice, NAKA)).answer == "attend"
        # 鶴見区's button pressed in 中区's group is not 鶴見区's answer.
        await w.tap(notice, NAKA, "absent", group=NEW_GROUP, value_ward=TSURUMI)
        assert (await w.recipient(notice, TSURUMI)).answer is None


async def test_a_group_two_wards_still_hold_takes_no_answer_and_says_so_in_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Rows the configuration never corrected (both set by hand, say): reads never pick one of them."""
    caplog.set_level(logging.WARNING, logger="madoguchi")
    async with world(tmp_path) as w:
        notice = await w.send_notice()
        group = line_group(ASAHI)
        assert group is not None
        async with w.bot.db.transaction() as tx:
            await tx.wards.set_line_group(WARDS[TSURUMI], group)
        before = len(w.group_messages(ASAHI))
        await w.tap(notice, ASAHI, "attend")
        assert (await w.recipient(notice, ASAHI)).answer is None
        assert (await w.recipient(notice, TSURUMI)).answer is None
        assert len(w.group_messages(ASAHI)) == before  # no reply in the group either
        [shared] = [r for r in caplog.records if r.getMessage() == "notices.group_shared"]
        ids = sorted([await w.ward_id(TSURUMI), await w.ward_id(ASAHI)])
        assert shared.__dict__["fields"]["wards"] == ",".join(str(i) for i in ids)
