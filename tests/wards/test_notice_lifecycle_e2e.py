"""A notice's life after it is sent: reminders (only to wards without an answer before the deadline,
only to wards attending on the day; each once, across restarts), answers refused after the deadline,
a change and a cancellation reaching every ward on every channel. The bot's clock is moved by the test."""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from pathlib import Path

from bot.runtime import Runtime
from bot.sandbox.slack_signing import block_action
from tests.wards.world import (
    STAFF,
    STAFF_CHANNEL,
    TOKYO,
    WARDS,
    World,
    line_group,
    slack_channel,
    typed,
    world,
)


def channel_texts(w: World, index: int) -> list[str]:
    channel = slack_channel(index)
    return [] if channel is None else w.slack.texts_in(channel)[1:]  # after the copy


def group_texts(w: World, index: int) -> list[str]:
    return (
        [json.dumps(m, ensure_ascii=False) for m in w.group_messages(index)[1:]] if line_group(index) else []
    )


async def test_reminders_go_only_to_wards_without_an_answer_then_to_those_attending(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        # At 14:00, not at the time of day the test runs: the day's reminder goes at 08:30, or an hour
        # before an earlier meeting, but never the evening before (one at 0:30 gets it at 0:00), so
        # run between 0:00 and 1:00 in Tokyo this test found no reminder an hour before the meeting.
        day = (w.clock.now.astimezone(TOKYO) + timedelta(days=10)).date()
        meeting = datetime.combine(day, time(14, 0), TOKYO)
        notice = await w.send_notice(at=typed(meeting), deadline=typed(meeting - timedelta(days=3)))
        assert notice.answer_by is not None and notice.meeting_at is not None
        answers = {0: "attend", 1: "absent", 2: "maybe", 3: "absent", 4: "attend", 5: "attend"}
        for index, answer in answers.items():
            if slack_channel(index):
                await w.press(notice, index, answer)
            else:
                await w.tap(notice, index, answer)
        before = {i: (len(channel_texts(w, i)), len(group_texts(w, i))) for i in range(len(WARDS))}

        w.clock.now = notice.answer_by - timedelta(days=2) + timedelta(minutes=1)
        told = await w.bot.notice_reminders.run()
        await w.settled()
        reminded = {
            i for i in range(len(WARDS)) if (len(channel_texts(w, i)), len(group_texts(w, i))) != before[i]
        }
        # No answer yet, or 未定 (ward 2): reminded on each of their channels; the rest not at all.
        assert reminded == {2, *range(6, len(WARDS))} and told == len(reminded)
        assert "回答のお願い" in channel_texts(w, 2)[-1]
        assert (
            "回答のお願い" in group_texts(w, 7)[-1] and "出席" in group_texts(w, 7)[-1]
        )  # the buttons again
        assert "回答のお願い" in channel_texts(w, 8)[-1] and "回答のお願い" in group_texts(w, 8)[-1]
        assert await w.bot.notice_reminders.run() == 0  # claimed: never twice

        # Past the deadline an answer is refused politely, and nothing changes.
        w.clock.now = notice.answer_by + timedelta(minutes=1)
        await w.press(notice, 6, "attend")
        assert "締め切りました" in w.ephemerals(6)[-1]
        await w.tap(notice, 7, "attend", group=line_group(7))
        assert "締め切りました" in w.group_messages(7)[-1]["text"]
        assert (await w.recipient(notice, 6)).answer is None and (await w.recipient(notice, 7)).answer is None

        w.clock.now = notice.meeting_at - timedelta(hours=1) + timedelta(minutes=1)
        before = {i: (len(channel_texts(w, i)), len(group_texts(w, i))) for i in range(len(WARDS))}
        await w.bot.notice_reminders.run()
        await w.settled()
        reminded = {
            i for i in range(len(WARDS)) if (len(channel_texts(w, i)), len(group_texts(w, i))) != before[i]
        }
        assert reminded == {0, 4, 5}  # attending
        assert "本日の会議" in channel_texts(w, 0)[-1] and "本日の会議" in group_texts(w, 4)[-1]
        assert "本日の会議" in channel_texts(w, 5)[-1] and "本日の会議" in group_texts(w, 5)[-1]


async def test_a_reminder_is_sent_once_across_a_restart(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        notice = await w.send_notice()
        assert notice.answer_by is not None
        w.clock.now = notice.answer_by - timedelta(days=2) + timedelta(minutes=1)
        assert await w.bot.notice_reminders.run() == len(WARDS)
        await w.settled()
        sent = len(w.line.sent_messages()) + len(w.slack.messages)
        # A second process on the same database (a restart) finds the reminder claimed.
        async with Runtime(w.bot.settings, w.clock) as again:
            assert await again.notice_reminders.run() == 0
        assert len(w.line.sent_messages()) + len(w.slack.messages) == sent


async def test_a_change_reaches_every_ward_on_every_channel_and_moves_the_reminders(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        notice = await w.send_notice()
        await w.press(notice, 0, "attend")
        before = await w.bot.db.read.notices.get(notice.id)
        assert before is not None and before.remind_unanswered_at is not None
        [sheet] = w.slack.messages_in(STAFF_CHANNEL)

        trigger = w.slack.issue_trigger_id(STAFF)
        status, _ = await w.post(block_edit(notice.id, sheet["ts"], trigger))
        assert status == 200
        form = await w.opened()
        assert form.view["callback_id"] == "notice_save" and "会議室A" in json.dumps(
            form.view, ensure_ascii=False
        )
        assert notice.meeting_at is not None
        later = notice.meeting_at + timedelta(days=1)
        done = await w.submit(
            form,
            w.form(at=typed(later), deadline=typed(later - timedelta(days=2)), venue="新しい会場 ホールB"),
        )
        assert done["ok"] and "変更" in json.dumps(done["view"], ensure_ascii=False)
        await w.settled()

        for index in range(len(WARDS)):
            if slack_channel(index):
                assert (
                    "変更のお知らせ" in channel_texts(w, index)[-1]
                    and "ホールB" in channel_texts(w, index)[-1]
                )
                assert "ホールB" in w.copy_text(index)  # the copy redrawn in place
            if line_group(index):
                assert (
                    "変更のお知らせ" in group_texts(w, index)[-1] and "ホールB" in group_texts(w, index)[-1]
                )
        assert "現在の回答：*出席（1名）*" in w.copy_text(0)  # answers stay
        assert "【変更あり】" in json.dumps(
            w.slack.messages_in(STAFF_CHANNEL)[0]["blocks"], ensure_ascii=False
        )
        after = await w.bot.db.read.notices.get(notice.id)
        assert after is not None and after.status == "changed"
        assert after.remind_unanswered_at == after.answer_by - timedelta(days=2)  # type: ignore[operator]
        assert after.remind_unanswered_at != before.remind_unanswered_at


async def test_a_cancellation_reaches_every_ward_and_stops_everything(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        notice = await w.send_notice()
        await w.tap(notice, 1, "attend")
        [sheet] = w.slack.messages_in(STAFF_CHANNEL)
        await w.post(block_cancel(notice.id, sheet["ts"], w.slack.issue_trigger_id(STAFF)))
        confirm = await w.opened()
        assert confirm.view["callback_id"] == "notice_cancel_confirm"
        done = await w.submit(confirm, {})
        assert done["ok"] and "中止し" in json.dumps(done["view"], ensure_ascii=False)
        again = await w.submit(confirm, {})  # submitted twice: told once
        assert "見つからない" in json.dumps(again["view"], ensure_ascii=False)
        await w.settled()
        for index in range(len(WARDS)):
            if slack_channel(index):
                assert [t for t in channel_texts(w, index) if "中止" in t] == [channel_texts(w, index)[-1]]
                assert "中止になりました" in w.copy_text(index) and "notice_answer" not in w.copy_text(index)
            if line_group(index):
                assert [t for t in group_texts(w, index) if "中止のお知らせ" in t] == [
                    group_texts(w, index)[-1]
                ]
        assert w.sheet_text().startswith("回答 1/18")
        assert "【中止】" in json.dumps(w.slack.messages_in(STAFF_CHANNEL)[0]["blocks"], ensure_ascii=False)
        cancelled = await w.bot.db.read.notices.get(notice.id)
        assert (
            cancelled is not None
            and cancelled.remind_unanswered_at is None
            and cancelled.remind_day_at is None
        )
        await w.tap(notice, 4, "absent")
        assert "中止" in w.group_messages(4)[-1]["text"]
        assert (await w.recipient(notice, 4)).answer is None
        w.clock.now += timedelta(days=30)
        assert await w.bot.notice_reminders.run() == 0


def block_edit(notice_id: int, ts: str, trigger: str) -> tuple[bytes, str]:
    return block_action(STAFF, "notice_edit", str(notice_id), STAFF_CHANNEL, ts, trigger_id=trigger)


def block_cancel(notice_id: int, ts: str, trigger: str) -> tuple[bytes, str]:
    return block_action(STAFF, "notice_cancel", str(notice_id), STAFF_CHANNEL, ts, trigger_id=trigger)
