"""Claiming a case is idempotent: one winner among concurrent clicks, one post, a stable assignee."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.sandbox.slack_signing import block_action
from storage import Database
from storage.cases import NewCase
from tests.conftest import NOW
from tests.slack.staff_desk import MODES, STAFF, STAFF_B, case_with_card, settled, staff_desk

CLAIMED = "さんが担当になりました。"
UNCLAIMED = "さんが担当を外れました。"


@pytest.mark.parametrize("mode", MODES)
async def test_twenty_concurrent_claims_by_two_staff_post_once(tmp_path: Path, mode: str) -> None:
    async with staff_desk(tmp_path, mode) as desk:
        case = await case_with_card(desk)
        clickers = [STAFF if n % 2 == 0 else STAFF_B for n in range(20)]
        answers = await asyncio.gather(*(desk.press(case, "case_claim", user=u) for u in clickers))
        assert [status for status, _ in answers] == [200] * 20
        await settled(desk, case)

        claims = [t for t in desk.thread(case) if CLAIMED in t]
        assert len(claims) == 1
        winner = (await desk.case()).assignee
        assert winner in (STAFF, STAFF_B)
        assert claims == [f"<@{winner}> {CLAIMED}"]
        audit = await desk.bot.db.read.audit.for_subject("case", case.id)
        assert [e.action for e in audit] == ["case.card_posted", "case.claimed"]
        # Everyone else was told, privately, who has the case.
        told = sorted(e["text"] for e in desk.slack.ephemerals)
        loser = STAFF_B if winner == STAFF else STAFF
        assert told == sorted(
            ["この相談はすでにあなたの担当です。"] * (clickers.count(winner) - 1)
            + [f"この相談は <@{winner}> さんが担当しています。"] * clickers.count(loser)
        )

        # Later clicks change nothing either.
        assert (await desk.press(case, "case_claim", user=loser))[0] == 200
        assert (await desk.press(case, "case_claim", user=winner))[0] == 200
        await settled(desk, case)
        assert [t for t in desk.thread(case) if CLAIMED in t] == claims
        assert (await desk.case()).assignee == winner


@pytest.mark.parametrize("mode", MODES)
async def test_a_click_on_a_case_that_does_not_exist_says_so(tmp_path: Path, mode: str) -> None:
    async with staff_desk(tmp_path, mode) as desk:
        case = await case_with_card(desk)
        for value in ("999", "not-a-number"):
            body = block_action(STAFF, "case_claim", value, "C_NPO", case.slack_ts)
            assert (await desk.post(body))[0] == 200
        trigger = desk.slack.issue_trigger_id(STAFF)
        body = block_action(STAFF, "case_reply", "999", "C_NPO", case.slack_ts, trigger_id=trigger)
        assert (await desk.post(body))[0] == 200
        assert [(e["to_user"], e["text"]) for e in desk.slack.ephemerals] == [
            (STAFF, "この相談は見つかりません。")
        ] * 3
        assert (await desk.case()).assignee is None


async def test_the_claim_update_has_one_winner(db: Database) -> None:
    """Storage alone: the conditional UPDATE takes an unassigned open case once, and never a closed one."""
    new = NewCase(None, "npo", "個人", "山田 花子", "line", "相談です。")
    async with db.transaction() as tx:
        case = await tx.cases.create(new, NOW, 2026)
        closed = await tx.cases.create(new, NOW, 2026)
        await tx.cases.set_status(closed.id, "closed", NOW)
        assert await tx.cases.claim(case.id, STAFF, NOW)
        assert not await tx.cases.claim(case.id, STAFF_B, NOW)
        assert not await tx.cases.claim(case.id, STAFF, NOW)
        assert not await tx.cases.claim(closed.id, STAFF, NOW)
        assert not await tx.cases.claim(9999, STAFF, NOW)
    stored = await db.read.cases.get(case.id)
    assert stored is not None and (stored.assignee, stored.status) == (STAFF, "in_progress")
    still_closed = await db.read.cases.get(closed.id)
    assert still_closed is not None and (still_closed.assignee, still_closed.status) == (None, "closed")


@pytest.mark.parametrize("mode", MODES)
async def test_concurrent_releases_post_once(tmp_path: Path, mode: str) -> None:
    async with staff_desk(tmp_path, mode) as desk:
        case = await case_with_card(desk)
        assert (await desk.press(case, "case_claim", user=STAFF))[0] == 200
        await settled(desk, case)
        answers = await asyncio.gather(
            *(desk.press(case, "case_unclaim", user=u) for u in [STAFF, STAFF_B] * 5)
        )
        assert [status for status, _ in answers] == [200] * 10
        await settled(desk, case)
        assert len([t for t in desk.thread(case) if UNCLAIMED in t]) == 1
        assert (await desk.case()).assignee is None
        audit = await desk.bot.db.read.audit.for_subject("case", case.id)
        assert [e.action for e in audit] == ["case.card_posted", "case.claimed", "case.unclaimed"]
        assert sum(e["text"] == "この相談には、いま担当者がいません。" for e in desk.slack.ephemerals) == 9
