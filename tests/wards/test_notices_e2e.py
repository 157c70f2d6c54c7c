"""Network-meeting notices end to end: 18 wards on mixed channels (Slack only, LINE only, both), the
notice sent from Slack, answers from both kinds of channel, the staff's answer sheet updated in place.
Real Bolt and the real LINE SDK over HTTP against the fakes; every request signed."""

from __future__ import annotations

from pathlib import Path

from tests.wards.world import STAFF_CHANNEL, WARDS, kind_of, line_group, slack_channel, world


def flex_labels(message: dict[str, object]) -> list[str]:
    footer = message["contents"]["footer"]["contents"]  # type: ignore[index]
    return [b["action"]["label"] for b in footer]


async def test_every_ward_receives_the_notice_on_each_of_its_channels(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        notice = await w.send_notice()
        for index in range(len(WARDS)):
            channel, group = slack_channel(index), line_group(index)
            if channel is not None:
                [copy] = w.slack.messages_in(channel)
                text = w.copy_text(index)
                assert notice.title in text and "会議室A" in text and "まだ回答がありません" in text
                actions = next(b for b in copy["blocks"] if b["type"] == "actions")
                assert [e.get("text", {}).get("text") for e in actions["elements"][:3]] == [
                    "出席",
                    "欠席",
                    "未定",
                ]
                assert actions["elements"][3]["type"] == "static_select"  # the number attending
                assert w.slack.alarms(copy) == []  # the online URL's & is escaped, nothing pings
            if group is not None:
                [message] = w.group_messages(index)
                # Postback buttons in a Flex bubble: LINE for PC shows them (it shows no quick replies).
                assert message["type"] == "flex"
                assert flex_labels(message)[:3] == ["出席", "欠席", "未定"]
                assert WARDS[index] in str(message)
        assert {kind_of(i) for i in range(len(WARDS))} == {"slack", "line", "both"}
        pushes = w.line.find_requests("/v2/bot/message/push")
        assert len(pushes) == 12 and all(r.headers.get("x-line-retry-key") for r in pushes)
        assert w.sheet_text().startswith(
            "回答 0/18 — 出席 0（計0名）、欠席 0、未定 0；未回答：鶴見、神奈川、西"
        )
        recipients = await w.bot.db.read.notices.recipients(notice.id)
        assert all(r.slack_ts for r in recipients if r.slack_channel)
        assert all(r.line_message_id for r in recipients if r.line_group_id)


async def test_answers_from_slack_and_line_update_the_copies_and_the_sheet(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        notice = await w.send_notice()
        await w.press(notice, 0, "attend")  # Slack only
        await w.press(notice, 2, "attend", count=3)  # both: the number from the select
        await w.press(notice, 3, "absent")
        await w.press(notice, 5, "maybe")
        await w.tap(notice, 1, "absent")  # LINE only
        await w.tap(notice, 4, "attend")
        asked = w.group_messages(4)[-1]
        assert "人数" in str(asked) and flex_labels(asked) == ["1名", "2名", "3名", "4名", "5名"]
        await w.tap(notice, 4, "attend", count=2)
        assert "出席（2名）" in str(w.group_messages(4)[-1])
        # The confirmations went out as free replies, not pushes.
        assert [m.kind for m in w.line.sent_messages(line_group(4))] == ["push", "reply", "reply"]

        await w.tap(notice, 8, "attend")  # both: answered on LINE
        assert w.sheet_text() == (
            "回答 7/18 — 出席 4（計7名）、欠席 2、未定 1；"
            "未回答：保土ケ谷、旭、金沢、港北、緑、青葉、都筑、戸塚、栄、泉、瀬谷"
        )
        assert "現在の回答：*出席（1名）*（<@U_WARD_00>" in w.copy_text(0)
        assert "現在の回答：*出席（3名）*" in w.copy_text(2)
        # Ward 8 answered on LINE: its Slack copy shows the answer too, without the LINE user id.
        copy = w.copy_text(8)
        assert "出席（1名）*（LINEから" in copy and "U00000" not in copy
        updates = [c for c in w.slack.find_calls("chat.update") if c.params["channel"] == slack_channel(0)]
        assert updates and updates[-1].params["ts"] == w.copy(0)["ts"]  # in place, not a new post
        assert len(w.slack.messages_in("C_WARD_00")) == 1 and len(w.slack.messages_in(STAFF_CHANNEL)) == 1

        ward = await w.recipient(notice, 4)
        assert (ward.answer, ward.attendees, ward.answered_via, ward.answered_in) == (
            "attend",
            2,
            "line",
            line_group(4),
        )
        assert ward.answered_by == "line:" + "U" + f"{5:032x}"
        slack_ward = await w.recipient(notice, 2)
        assert (slack_ward.answered_by, slack_ward.answered_in) == ("U_WARD_02", slack_channel(2))

        # An answer can be changed until the deadline.
        await w.press(notice, 3, "attend")
        assert w.sheet_text().startswith("回答 7/18 — 出席 5（計8名）、欠席 1、未定 1")
        assert [a.answer for a in await w.bot.db.read.notices.history(notice.id, await w.ward_id(3))] == [
            "absent",
            "attend",
        ]


async def test_a_double_click_or_a_retried_request_records_one_answer(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        notice = await w.send_notice()
        body = await w.slack_body(notice, 0, "attend")
        assert (await w.post(body))[0] == 200
        assert (await w.post(body, retry_num=1))[0] == 200  # Slack retries the same request
        await w.press(notice, 0, "attend")  # a second click: a new request, the same answer
        await w.settled()
        assert len(await w.bot.db.read.notices.history(notice.id, await w.ward_id(0))) == 1
        copy_updates = [
            c for c in w.slack.find_calls("chat.update") if c.params["channel"] == slack_channel(0)
        ]
        assert len(copy_updates) == 1

        event = await w.tap(notice, 1, "absent")
        await w.tap(notice, 1, "absent", event=event)  # LINE redelivers the same webhook event
        await w.tap(notice, 1, "absent")  # a double tap: another event, the same answer
        assert len(await w.bot.db.read.notices.history(notice.id, await w.ward_id(1))) == 1
        assert [m.kind for m in w.line.sent_messages(line_group(1))] == ["push", "reply"]
        assert w.sheet_text().startswith("回答 2/18 — 出席 1（計1名）、欠席 1")


async def test_an_answer_from_another_wards_channel_is_refused_and_recorded_nowhere(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        notice = await w.send_notice()
        # Ward 0's buttons pressed in ward 3's channel (its copy shared there), and a value naming
        # ward 0 on ward 3's own copy (forged).
        await w.press(notice, 0, "attend", channel=slack_channel(3))
        await w.press(notice, 3, "attend", value_ward=0)
        assert len(w.ephemerals(0)) == 1 and "別の区" in w.ephemerals(0)[0]
        assert len(w.ephemerals(3)) == 1 and "別の区" in w.ephemerals(3)[0]
        # On LINE: ward 0's value in ward 1's group; and a postback from a group linked to no ward.
        await w.tap(notice, 1, "attend", value_ward=4)
        assert "別の区" in w.group_messages(1)[-1]["text"]
        stranger = "C" + "f" * 32
        w.line.set_group(stranger, "知らないグループ")
        await w.tap(notice, 1, "attend", group=stranger)
        assert w.line.sent_messages(stranger) == []
        for index in range(len(WARDS)):
            assert (await w.recipient(notice, index)).answer is None
        assert w.sheet_text().startswith("回答 0/18")


async def test_markup_in_a_title_pings_no_ward_channel(tmp_path: Path) -> None:
    """Ward channels hold outsiders (Slack Connect): a title is escaped in the message text too."""
    async with world(tmp_path) as w:
        await w.send_notice(title="<!channel> 第3回 <https://evil.example|資料>")
        for index in range(len(WARDS)):
            channel = slack_channel(index)
            if channel:
                [copy] = w.slack.messages_in(channel)
                assert w.slack.alarms(copy) == []
        [sheet] = w.slack.messages_in(STAFF_CHANNEL)
        assert w.slack.alarms(sheet) == []
