"""Personal data goes only to staff of that case: the configured staff list, or the members of the
case's own channel. App Home and /madoguchi show everyone else case numbers and counts at most, and a
membership look-up that fails is "could not be checked", not "not staff"."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.slack_signing import event_callback, slash_command
from bot.slack.staff_check import MEMBERSHIP_TTL, StaffCheck, Verdict
from storage.cases import NewCase
from tests.slack.staff_desk import MODES, STAFF, STAFF_B, STRANGER, case_with_card, staff_desk
from tests.slack.test_desk_e2e import Desk

NAME = "山田 花子"
BODY = "NPO法人の設立手続き"
NOT_STAFF = "この操作はセンターのスタッフのみ行えます。"
CHECK_FAILED = "スタッフかどうかを確認できませんでした。しばらくしてからもう一度お試しください。"


def said(body: str) -> str:
    """A command's answer as the caller sees it: plain text, or the JSON with text and blocks."""
    return body if not body.startswith("{") else json.dumps(json.loads(body), ensure_ascii=False)


async def command(desk: Desk, text: str, user: str, channel: str = "C_LOBBY") -> str:
    status, body = await desk.post(slash_command("/madoguchi", text, user, channel))
    assert status == 200
    return said(body)


async def home_of(desk: Desk, user: str) -> str:
    opened = event_callback({"type": "app_home_opened", "user": user, "channel": "D1", "tab": "home"})
    assert (await desk.post(opened))[0] == 200
    [view] = [v for v in desk.slack.views if v.action == "publish" and v.user_id == user][-1:]
    return json.dumps(view.view, ensure_ascii=False)


@pytest.mark.parametrize("mode", MODES)
async def test_a_stranger_in_a_public_channel_gets_no_personal_data(tmp_path: Path, mode: str) -> None:
    async with staff_desk(tmp_path, mode) as desk:
        # Everybody is in the lobby; only staff are in the case's channel (or on the staff list).
        desk.slack.set_members("C_LOBBY", [STAFF, STRANGER])
        case = await case_with_card(desk)

        for text in (f"case {case.number}", "cases"):
            answer = await command(desk, text, STRANGER)
            assert NAME not in answer and BODY not in answer, text
        assert await command(desk, f"case {case.number}", STRANGER) == NOT_STAFF
        if not desk.bot.settings.slack.staff:
            assert await command(desk, "cases", STRANGER) == "ほかに、閲覧できない相談が1件あります。"

        shown = await home_of(desk, STRANGER)
        assert NAME not in shown and BODY not in shown
        assert "ほか1件（閲覧できない相談のため、件数のみ表示しています）" in shown

        # Staff see it all, whichever channel they type in.
        assert BODY in await command(desk, f"case {case.number}", STAFF)
        assert NAME in await command(desk, "cases", STAFF)
        assert NAME in await home_of(desk, STAFF)


async def test_a_failed_membership_look_up_is_could_not_check(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with staff_desk(tmp_path, "channel-members") as desk:
        case = await case_with_card(desk)
        desk.slack.fail_next("error:internal_error", method="conversations.members")
        assert (await desk.press(case, "case_claim"))[0] == 200
        assert [(e["to_user"], e["text"]) for e in desk.slack.ephemerals] == [(STAFF, CHECK_FAILED)]
        assert (await desk.case()).assignee is None

        desk.slack.fail_next("error:internal_error", method="conversations.members")
        assert await command(desk, f"case {case.number}", STAFF) == CHECK_FAILED
        desk.slack.fail_next("error:internal_error", method="conversations.members")
        shown = await home_of(desk, STAFF)
        assert NAME not in shown and "スタッフかどうかを確認できなかったため" in shown

        # Slack answers again: the same person is staff after all.
        assert BODY in await command(desk, f"case {case.number}", STAFF)
        logged = [r for r in caplog.records if r.getMessage() == "slack.staff_check_failed"]
        assert len(logged) == 3
        assert all(
            getattr(r, "fields", {}) == {"channel": "C_NPO", "error": "internal_error"} for r in logged
        )
        assert NAME not in caplog.text and BODY not in caplog.text


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def test_membership_is_paged_cached_briefly_and_looked_up_once_at_a_time() -> None:
    async with FakeSlack() as slack:
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
        clock = Clock()
        check = StaffCheck(client, [], clock)
        slack.members_page_max = 2  # Slack may return fewer than asked: follow the cursor
        slack.set_members("C_NPO", ["U1", "U2", "U3", "U4", "U5", STAFF])

        verdicts = await check.verdicts(STAFF, ["C_NPO"] * 20)
        assert verdicts == {"C_NPO": Verdict.STAFF}
        many = await asyncio.gather(*(check.verdict(STAFF, "C_NPO") for _ in range(20)))
        assert set(many) == {Verdict.STAFF}
        calls = slack.find_calls("conversations.members")
        assert len(calls) == 3  # three pages, once
        assert [c.params.get("cursor") for c in calls] == [None, "next:2", "next:4"]

        # Removed from the channel: still staff from the cache until the TTL is over, then not.
        slack.set_members("C_NPO", ["U1"])
        clock.now += MEMBERSHIP_TTL - timedelta(seconds=1)
        assert await check.verdict(STAFF, "C_NPO") is Verdict.STAFF
        clock.now += timedelta(seconds=2)
        assert await check.verdict(STAFF, "C_NPO") is Verdict.NOT_STAFF

        # A failure is UNKNOWN and is not cached.
        slack.fail_next("error:ratelimited", method="conversations.members")
        assert await check.verdict("U9", "C_OTHER") is Verdict.UNKNOWN
        slack.set_members("C_OTHER", ["U9"])
        assert await check.verdict("U9", "C_OTHER") is Verdict.STAFF

        # A staff list needs no look-up at all.
        listed = StaffCheck(client, [STAFF], clock)
        before = len(slack.find_calls("conversations.members"))
        assert await listed.verdict(STAFF, "C_NPO") is Verdict.STAFF
        assert await listed.verdict("U1", "C_NPO") is Verdict.NOT_STAFF
        assert len(slack.find_calls("conversations.members")) == before


async def test_staff_on_a_later_page_of_a_big_channel_may_act(tmp_path: Path) -> None:
    async with staff_desk(tmp_path, "channel-members") as desk:
        case = await case_with_card(desk)
        desk.slack.members_page_max = 2
        desk.slack.set_members("C_NPO", ["U1", "U2", "U3", "U4", STAFF])
        assert (await desk.press(case, "case_claim"))[0] == 200
        assert desk.slack.ephemerals == []
        assert (await desk.case()).assignee == STAFF


async def test_cases_lists_the_oldest_visible_per_channel_and_counts_the_rest(tmp_path: Path) -> None:
    """Who may see a case is decided by its channel (the one its card went to, else its category's):
    a member of one channel sees that channel's cases, oldest first, at most 50, and a count of the
    others; a case whose card went to a channel nobody here is in stays hidden from everyone."""
    async with staff_desk(tmp_path, "channel-members") as desk:
        desk.slack.set_members("C_NPO", [STAFF])
        desk.slack.set_members("C_OLD", ["U_SOMEONE_ELSE"])
        now = datetime.now(UTC)
        async with desk.bot.db.transaction() as tx:
            user = await tx.users.ensure("U_CITIZEN", now)
            made = []
            for n in range(60):
                made.append(
                    await tx.cases.create(
                        NewCase(user.id, "npo", "individual", f"NPO{n:02d}", "line", "x"), now, 2026
                    )
                )
            for n in range(3):
                made.append(
                    await tx.cases.create(
                        NewCase(user.id, "general", "individual", f"GEN{n}", "line", "x"), now, 2026
                    )
                )
            moved = await tx.cases.create(
                NewCase(user.id, "npo", "individual", "MOVED", "line", "x"), now, 2026
            )
            await tx.cases.set_slack_message(moved.id, "C_OLD", "1.0")
            await tx.cases.set_status(made[0].id, "closed", now)  # closed: not listed, not counted

        general = await command(desk, "cases", STAFF_B)
        assert [f"GEN{n}" in general for n in range(3)] == [True, True, True] and "NPO" not in general
        assert "ほかに、閲覧できない相談が60件あります。" in general  # 59 open in C_NPO + the one in C_OLD

        everything = await command(desk, "cases", STAFF)
        listed = [c.number for c in made[1:51]]
        assert all(number in everything for number in listed) and made[51].number not in everything
        assert "MOVED" not in everything and "ほかに、閲覧できない相談が1件あります。" in everything
