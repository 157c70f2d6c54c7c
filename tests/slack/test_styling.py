"""Slack's styling characters in text others supplied, end to end: a `*`, `_`, `~` or backtick in a
ward notice's title, a citizen's name or words, an event title or a staff answer can neither end our
own bold early nor start a style that our text would close. Slack has no escape for them, so
`bot/slack/mrkdwn.py` `escape` shows each as its full-width look-alike (`＊＿～｀`); everything is
checked on what the fake Slack received.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bot.sandbox.slack_signing import event_callback, slash_command, view_submission
from tests.harness import wait_for
from tests.line.test_intake_e2e import USER, Citizen
from tests.slack.test_desk_e2e import STAFF, Desk, card_posted, desk
from tests.slack.test_events_e2e import FORM, opened, submit
from tests.wards.test_notice_lifecycle_e2e import block_cancel
from tests.wards.world import STAFF_CHANNEL, slack_channel, ward_member, world

__all__ = ["desk"]  # the fixture, shared with the desk tests

TITLE = "*速報* 第3回_会議 ~改訂~ `資料`"
SHOWN = "＊速報＊ 第3回＿会議 ～改訂～ ｀資料｀"
NAME = "*山田* _花子_"
BODY = "~至急~ `確認` *お願い*します"


def shown(surface: Any) -> str:
    return json.dumps(surface, ensure_ascii=False)


def section_texts(message: dict[str, Any] | None) -> list[str]:
    assert message is not None
    return [b["text"]["text"] for b in message["blocks"] if b["type"] == "section" and "text" in b]


def field_texts(message: dict[str, Any] | None) -> list[str]:
    assert message is not None
    return [f["text"] for b in message["blocks"] if b["type"] == "section" for f in b.get("fields", [])]


async def test_a_notice_title_keeps_the_answer_sheet_bold_whole(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        notice = await w.send_notice(title=TITLE)
        [sheet] = w.slack.messages_in(STAFF_CHANNEL)
        assert section_texts(sheet)[0].startswith(f"*{SHOWN}*（")  # our bold, around the whole title
        copy = w.copy(0)
        assert copy["text"].startswith(SHOWN)  # the notification text is mrkdwn too
        assert copy["blocks"][0]["text"] == {"type": "plain_text", "text": TITLE}  # a header: literal

        # 中止's confirmation (a modal's mrkdwn) names it too.
        await w.post(block_cancel(notice.id, sheet["ts"], w.slack.issue_trigger_id(STAFF)))
        confirm = await w.opened()
        assert section_texts(confirm.view)[0].startswith(f"「{SHOWN}」（")


async def test_a_press_on_a_cancelled_notice_is_refused_with_its_title_literal(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        notice = await w.send_notice(title="<!channel> *臨時* 会議")
        [sheet] = w.slack.messages_in(STAFF_CHANNEL)
        stale = await w.slack_body(notice, 0, "attend")  # the copy as it was before the cancellation
        await w.post(block_cancel(notice.id, sheet["ts"], w.slack.issue_trigger_id(STAFF)))
        await w.submit(await w.opened(), {})
        await w.settled()
        assert (await w.post(stale))[0] == 200
        await wait_for(lambda: bool(w.ephemerals(0)))
        [refusal] = [e for e in w.slack.ephemerals if e.get("to_user") == ward_member(0)]
        assert refusal["channel"] == slack_channel(0)
        assert "「&lt;!channel&gt; ＊臨時＊ 会議」は中止になりました" in refusal["text"]
        assert w.slack.alarms(refusal) == []


async def intake(citizen: Citizen) -> None:
    await citizen.type("相談する")
    await citizen.tap("yes")
    await citizen.tap("npo")
    await citizen.tap("個人")
    await citizen.type(NAME)
    await citizen.type("やまだ はなこ")
    await citizen.tap("line")
    await citizen.type(BODY)
    await citizen.tap("flow:done")
    await citizen.tap("flow:skip")
    await citizen.tap("flow:confirm")


async def test_a_citizens_styling_characters_stay_inside_their_own_text(desk: Desk) -> None:
    citizen = Citizen(desk.bot.base_url, desk.line)
    await intake(citizen)
    case = await card_posted(desk)
    assert (case.person_name, case.body) == (NAME, BODY)

    # The card: our bold labels, the citizen's values with look-alikes.
    card = desk.slack.message("C_NPO", case.slack_ts or "")
    assert "*お名前*\n＊山田＊ ＿花子＿（やまだ はなこ）" in field_texts(card)
    assert any(t.endswith("\n～至急～ ｀確認｀ ＊お願い＊します") for t in section_texts(card))

    # A follow-up in the thread.
    await citizen.type("*追加* です_")
    await wait_for(lambda: any("追加" in t for t in desk.thread(case)))
    assert "相談者からの追加メッセージ：\n＊追加＊ です＿" in desk.thread(case)

    # A reply written in the modal, copied into the thread (what the citizen got, shown literally).
    assert (await desk.press(case, "case_claim"))[0] == 200
    assert (await desk.press(case, "case_reply"))[0] == 200
    [compose] = [v for v in desk.slack.views if v.action == "open"]
    assert "＊山田＊ ＿花子＿" in shown(compose.view)  # the modal's context names the citizen
    status, text = await desk.post(
        view_submission(STAFF, "case_reply_compose", {"reply": {"text": "*承知*しました_"}},
                        compose.view["private_metadata"], compose.view_id)
    )  # fmt: skip
    assert status == 200
    preview = json.loads(text)["view"]
    assert (await desk.post(view_submission(STAFF, "case_reply_confirm", {}, preview["private_metadata"],
                                            compose.view_id)))[0] == 200  # fmt: skip
    await wait_for(lambda: any("返信しました" in t for t in desk.thread(case)))
    assert desk.line.sent_messages(USER)[-1].message["text"].endswith("*承知*しました_")  # LINE: as typed
    assert f"<@{STAFF}> さんが返信しました：\n＊承知＊しました＿" in desk.thread(case)

    # App Home and /madoguchi: our bold case number, the citizen's name literal.
    home = event_callback({"type": "app_home_opened", "user": STAFF, "channel": "D1", "tab": "home"})
    assert (await desk.post(home))[0] == 200
    assert f"*{case.number}* " in shown(desk.slack.home_views[STAFF])
    assert "＊山田＊ ＿花子＿" in shown(desk.slack.home_views[STAFF])
    status, text = await desk.post(slash_command("/madoguchi", "cases", STAFF, "C_NPO"))
    answer = json.loads(text) if text.startswith("{") else {"text": text}
    assert status == 200 and "＊山田＊ ＿花子＿" in answer["text"], answer


async def test_a_case_number_typed_wrong_is_echoed_literally(desk: Desk) -> None:
    # Slack sends a command's text escaped (the fake does), a real mention as markup (the last one).
    for sent, as_typed, echoed in (
        ("<!channel>", True, "&lt;!channel&gt;"),
        ("*2026-0001*", True, "＊2026-0001＊"),
        ("<!channel>", False, "@channel"),
    ):
        command = slash_command("/madoguchi", f"case {sent}", STAFF, "C_NPO", as_typed=as_typed)
        status, text = await desk.post(command)
        answer = json.loads(text) if text.startswith("{") else {"text": text}
        assert status == 200 and f"相談 {echoed} は見つかりません" in answer["text"], answer
        assert desk.slack.alarms(answer) == []


async def test_an_event_title_keeps_the_event_list_and_its_modals_whole(desk: Desk) -> None:
    trigger = desk.slack.issue_trigger_id(STAFF)
    assert (await desk.post(slash_command("/madoguchi", "event", STAFF, "C_DEFAULT", trigger)))[0] == 200
    saved = await submit(desk, await opened(desk), {**FORM, "title": {"value": TITLE}})
    assert saved["ok"] and section_texts(saved["view"])[0].startswith(f"*{SHOWN}*")
    status, text = await desk.post(slash_command("/madoguchi", "events", STAFF, "C_DEFAULT"))
    listing = json.loads(text)
    assert status == 200 and any(f"* {SHOWN} ・ " in t for t in section_texts(listing)), listing
