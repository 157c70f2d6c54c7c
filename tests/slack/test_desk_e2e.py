"""The staff desk end to end: LINE intake -> Slack card -> claim -> reply -> follow-up -> notes -> close.

Real SDK clients and a real Bolt app over HTTP, against the fake LINE and fake Slack platforms;
every Slack request is signed exactly as Slack signs it.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest

from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.slack_signing import (
    block_action,
    event_callback,
    message_event,
    post_signed,
    view_submission,
)
from storage.cases import Case
from tests.harness import SLACK_SIGNING_SECRET, settings_for, wait_for
from tests.line.test_intake_e2e import USER, Citizen
from tests.personal_log import no_personal_data_in_log  # noqa: F401

# The log as `serve` writes it must hold none of the test citizen's personal data (tests/personal_log.py).
pytestmark = pytest.mark.usefixtures("no_personal_data_in_log")

STAFF = "U_STAFF"
STRANGER = "U_STRANGER"
CATEGORIES = """
[[consultation.categories]]
id = "general"
label = "総合相談"

[[consultation.categories]]
id = "npo"
label = "NPOの設立・運営"
channel = "C_NPO"
"""


@dataclass
class Desk:
    bot: Runtime
    line: FakeLine
    slack: FakeSlack

    @property
    def url(self) -> str:
        return f"{self.bot.base_url}/slack/events"

    async def post(self, body: tuple[bytes, str], **kwargs: Any) -> tuple[int, str]:
        return await post_signed(self.url, SLACK_SIGNING_SECRET, body, **kwargs)

    async def press(self, case: Case, action_id: str, user: str = STAFF) -> tuple[int, str]:
        trigger = self.slack.issue_trigger_id(user)
        body = block_action(user, action_id, str(case.id), "C_NPO", case.slack_ts, trigger_id=trigger)
        return await self.post(body)

    async def case(self) -> Case:
        [case] = await self.bot.db.read.cases.with_status("new", "in_progress", "closed")
        return case

    def thread(self, case: Case) -> list[str]:
        assert case.slack_ts is not None
        return self.slack.texts_in("C_NPO", case.slack_ts)


@pytest.fixture(params=["channel-members", "staff-list"])
async def desk(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Desk]:
    """Staff are the members of the case's channel, or (second run) a configured list of Slack users."""
    async with FakeLine(access_token="test-access-token") as line, FakeSlack() as slack:
        line.set_profile(USER, "山田 花子")
        staff_list = (STAFF,) if request.param == "staff-list" else ()
        members = [STAFF, STRANGER] if staff_list else [STAFF]
        slack.set_members("C_NPO", members)
        slack.set_members("C_DEFAULT", members)
        settings = settings_for(
            tmp_path, line.base_url, CATEGORIES, slack_api_url=slack.api_url, slack_staff=staff_list
        )
        async with Runtime(settings) as bot:
            yield Desk(bot, line, slack)


class Chat(Protocol):
    """A citizen in a test chat (tests/line/test_intake_e2e.py, tests/line/test_citizen_events_e2e.py)."""

    async def type(self, text: str) -> list[dict[str, Any]]: ...

    async def tap(self, data: str) -> list[dict[str, Any]]: ...


async def submit_intake(citizen: Chat) -> None:
    await citizen.type("相談する")
    await citizen.tap("yes")
    await citizen.tap("npo")
    await citizen.tap("個人")
    await citizen.type("山田 花子")
    await citizen.type("やまだ はなこ")
    await citizen.tap("line")
    await citizen.type("NPO法人の設立手続きについて教えてください。")
    await citizen.tap("flow:done")
    await citizen.tap("flow:skip")
    await citizen.tap("flow:confirm")


async def card_posted(desk: Desk) -> Case:
    async def posted() -> bool:
        cases = await desk.bot.db.read.cases.with_status("new")
        return bool(cases) and cases[0].slack_ts is not None

    await wait_for(posted)
    return await desk.case()


def button_ids(message: dict[str, Any] | None) -> list[str]:
    assert message is not None
    actions = next(b for b in message["blocks"] if b["type"] == "actions")
    return [e["action_id"] for e in actions["elements"]]


async def test_the_whole_path_from_line_to_slack_and_back(desk: Desk) -> None:
    citizen = Citizen(desk.bot.base_url, desk.line)
    await submit_intake(citizen)

    # The card arrives in the category's channel, complete.
    case = await card_posted(desk)
    assert case.slack_channel == "C_NPO"
    card = desk.slack.message("C_NPO", case.slack_ts or "")
    assert card is not None
    shown = json.dumps(card["blocks"], ensure_ascii=False)
    for expected in (
        case.number,
        "NPOの設立・運営",
        "山田 花子",
        "個人",
        "LINE",
        "NPO法人の設立手続き",
        "未対応",
    ):
        assert expected in shown
    assert button_ids(card) == ["case_claim", "case_reply", "case_close"]

    # Claim: the card is redrawn in place, the thread says who, the audit log remembers.
    assert (await desk.press(case, "case_claim"))[0] == 200
    await wait_for(lambda: any("担当になりました" in t for t in desk.thread(case)))
    await wait_for(lambda: "case_unclaim" in button_ids(desk.slack.message("C_NPO", case.slack_ts or "")))
    card = desk.slack.message("C_NPO", case.slack_ts or "")
    assert f"<@{STAFF}>" in json.dumps(card, ensure_ascii=False) and "対応中" in json.dumps(
        card, ensure_ascii=False
    )
    audit = await desk.bot.db.read.audit.for_subject("case", case.id)
    # Posting the card showed the personal data to the channel: that read is in the log too.
    assert [(e.actor, e.action) for e in audit] == [
        ("slack", "case.card_posted"),
        (f"slack:{STAFF}", "case.claimed"),
    ]
    assert audit[0].detail == {"surface": "card", "channel": "C_NPO"}

    # Reply: the modal opens, shows a preview, and only the confirmation sends it on LINE.
    assert (await desk.press(case, "case_reply"))[0] == 200
    [opened] = [v for v in desk.slack.views if v.action == "open"]
    assert opened.view["callback_id"] == "case_reply_compose"
    before = len(desk.line.sent_messages(USER))
    queued_before = len(await desk.bot.db.read.outbox.in_order(f"line:{USER}"))
    status, text = await desk.post(
        view_submission(STAFF, "case_reply_compose", {"reply": {"text": "必要書類をご案内します。"}},
                        opened.view["private_metadata"], opened.view_id)
    )  # fmt: skip
    assert status == 200
    preview = json.loads(text)
    assert preview["response_action"] == "update"
    shown_texts = [b["text"]["text"] for b in preview["view"]["blocks"] if b["type"] == "section"]
    assert f"【受付番号 {case.number}】\n必要書類をご案内します。" in shown_texts
    # Nothing sent or even queued for the citizen by the preview (the ack comes after the commit).
    assert len(await desk.bot.db.read.outbox.in_order(f"line:{USER}")) == queued_before
    assert not await _has_message(desk, case, "reply")
    assert len(desk.line.sent_messages(USER)) == before
    status, _ = await desk.post(
        view_submission(STAFF, "case_reply_confirm", {}, preview["view"]["private_metadata"], opened.view_id)
    )
    assert status == 200
    await wait_for(lambda: len(desk.line.sent_messages(USER)) == before + 1)
    assert (
        desk.line.sent_messages(USER)[-1].message["text"]
        == f"【受付番号 {case.number}】\n必要書類をご案内します。"
    )
    await wait_for(lambda: "✅ 相談者に送信しました。" in desk.thread(case))
    assert f"<@{STAFF}> さんが返信しました：\n必要書類をご案内します。" in desk.thread(case)

    # The citizen's follow-up appears in the thread.
    await citizen.type("ありがとうございます。定款の雛形もありますか？")
    await wait_for(lambda: any("定款の雛形もありますか" in t for t in desk.thread(case)))

    # A plain thread message is an internal note: never sent.
    sent_before = len(desk.line.sent_messages(USER))
    note = event_callback(
        message_event("C_NPO", STAFF, "雛形は先週の資料にあります（内部メモ）", thread_ts=case.slack_ts)
    )
    assert (await desk.post(note))[0] == 200
    await wait_for(lambda: _has_message(desk, case, "note"))
    assert len(desk.line.sent_messages(USER)) == sent_before

    # A thread message with the reply prefix is sent to the citizen.
    answer = event_callback(
        message_event("C_NPO", STAFF, "返信:雛形をお送りします。", thread_ts=case.slack_ts)
    )
    assert (await desk.post(answer))[0] == 200
    await wait_for(lambda: len(desk.line.sent_messages(USER)) == sent_before + 1)
    assert desk.line.sent_messages(USER)[-1].message["text"].endswith("雛形をお送りします。")

    # Close, with a closing message to the citizen.
    assert (await desk.press(case, "case_close"))[0] == 200
    close_view = [v for v in desk.slack.views if v.action == "open"][-1]
    status, _ = await desk.post(
        view_submission(STAFF, "case_close_submit", {"message": {"text": "またいつでもご相談ください。"}},
                        close_view.view["private_metadata"], close_view.view_id)
    )  # fmt: skip
    assert status == 200
    await wait_for(lambda: "対応を完了しました" in desk.line.sent_messages(USER)[-1].message.get("text", ""))
    assert "またいつでもご相談ください。" in desk.line.sent_messages(USER)[-1].message["text"]
    closed = await desk.case()
    assert closed.status == "closed" and closed.first_response_at is not None
    await wait_for(lambda: button_ids(desk.slack.message("C_NPO", case.slack_ts or "")) == ["case_reopen"])
    actions = [e.action for e in await desk.bot.db.read.audit.for_subject("case", case.id)]
    assert actions == [
        "case.card_posted",
        "case.claimed",
        "case.replied",
        "case.noted",
        "case.replied",
        "case.closed",
    ]

    # The citizen writes again after the close: the case reopens and staff see why.
    await citizen.type("もう一点だけ質問があります。")
    await wait_for(lambda: "相談者からのメッセージで再開しました。" in desk.thread(case))
    await wait_for(lambda: any("もう一点だけ質問があります。" in t for t in desk.thread(case)))
    assert (await desk.case()).status == "in_progress"
    await wait_for(lambda: "case_close" in button_ids(desk.slack.message("C_NPO", case.slack_ts or "")))


async def _has_message(desk: Desk, case: Case, direction: str) -> bool:
    return any(m.direction == direction for m in await desk.bot.db.read.cases.messages(case.id))


async def test_forged_and_stale_requests_are_rejected(desk: Desk) -> None:
    citizen = Citizen(desk.bot.base_url, desk.line)
    await submit_intake(citizen)
    case = await card_posted(desk)
    body = block_action(STAFF, "case_claim", str(case.id), "C_NPO", case.slack_ts)
    forged, _ = await post_signed(desk.url, "not-the-secret", body)
    stale, _ = await desk.post(body, timestamp=int(time.time()) - 600)
    assert (forged, stale) == (401, 401)
    assert (await desk.case()).assignee is None
    assert [e.action for e in await desk.bot.db.read.audit.for_subject("case", case.id)] == [
        "case.card_posted"
    ]


async def test_a_retried_event_is_handled_once(desk: Desk) -> None:
    citizen = Citizen(desk.bot.base_url, desk.line)
    await submit_intake(citizen)
    case = await card_posted(desk)
    sent = len(desk.line.sent_messages(USER))
    event = event_callback(message_event("C_NPO", STAFF, "返信:一度だけ届きます。", thread_ts=case.slack_ts))
    assert (await desk.post(event))[0] == 200
    assert (await desk.post(event, retry_num=1))[0] == 200
    assert (await desk.post(event, retry_num=2))[0] == 200
    await wait_for(lambda: len(desk.line.sent_messages(USER)) == sent + 1)
    await wait_for(lambda: "✅ 相談者に送信しました。" in desk.thread(case))
    assert len(desk.line.sent_messages(USER)) == sent + 1
    assert [m.body for m in await desk.bot.db.read.cases.messages(case.id) if m.direction == "reply"] == [
        "一度だけ届きます。"
    ]


async def test_a_non_staff_user_is_refused_and_nothing_changes(desk: Desk) -> None:
    if not desk.bot.settings.slack.staff:
        pytest.skip("without a staff list, whoever sees the card (a channel member) is staff")
    citizen = Citizen(desk.bot.base_url, desk.line)
    await submit_intake(citizen)
    case = await card_posted(desk)
    assert (await desk.press(case, "case_claim", user=STRANGER))[0] == 200
    assert (await desk.press(case, "case_reply", user=STRANGER))[0] == 200
    sneaky = event_callback(message_event("C_NPO", STRANGER, "返信:勝手な返事", thread_ts=case.slack_ts))
    assert (await desk.post(sneaky))[0] == 200
    assert [e["to_user"] for e in desk.slack.ephemerals] == [STRANGER] * 3
    assert all(e["text"] == "この操作はセンターのスタッフのみ行えます。" for e in desk.slack.ephemerals)
    assert (await desk.case()).assignee is None
    assert [v for v in desk.slack.views if v.action == "open"] == []
    assert await desk.bot.db.read.cases.messages(case.id) == []


async def test_a_429_storm_delivers_everything_in_order(desk: Desk) -> None:
    citizen = Citizen(desk.bot.base_url, desk.line)
    await submit_intake(citizen)
    case = await card_posted(desk)
    desk.slack.retry_after = 0
    desk.slack.fail_next(*([429] * 6), method="chat.postMessage")
    for n in range(5):
        await citizen.type(f"追加のメッセージ{n}")
    await wait_for(lambda: sum("追加のメッセージ" in t for t in desk.thread(case)) == 5, within=30)
    followups = [t for t in desk.thread(case) if "追加のメッセージ" in t]
    assert followups == [f"相談者からの追加メッセージ：\n追加のメッセージ{n}" for n in range(5)]
    assert sum(1 for r in desk.slack.find_calls("chat.postMessage") if r.status == 429) == 6


async def test_slash_command_and_app_home(desk: Desk) -> None:
    from bot.sandbox.slack_signing import slash_command

    def said(body: str) -> str:
        """Bolt answers a command with plain text, or JSON when there are blocks."""
        return str(json.loads(body)["text"]) if body.startswith("{") else body

    citizen = Citizen(desk.bot.base_url, desk.line)
    await submit_intake(citizen)
    case = await card_posted(desk)

    status, text = await desk.post(slash_command("/madoguchi", "cases", STAFF, "C_NPO"))
    assert status == 200 and case.number in said(text) and "未対応" in said(text)
    status, text = await desk.post(slash_command("/madoguchi", f"case {case.number}", STAFF, "C_NPO"))
    assert "NPO法人の設立手続き" in json.dumps(json.loads(text)["blocks"], ensure_ascii=False)
    status, text = await desk.post(slash_command("/madoguchi", "case 1999-0001", STAFF, "C_NPO"))
    assert said(text) == "相談 1999-0001 は見つかりません。"
    status, text = await desk.post(slash_command("/madoguchi", "stats", STAFF, "C_NPO"))
    assert said(text).startswith(
        "未完了：1件 ・ 今月の対応完了：0件 ・ 初回返信までの時間（中央値）：データなし"
    )
    status, text = await desk.post(slash_command("/madoguchi", "", STAFF, "C_NPO"))
    assert "使い方" in said(text)
    if desk.bot.settings.slack.staff:
        status, text = await desk.post(slash_command("/madoguchi", "cases", STRANGER, "C_NPO"))
        assert said(text) == "この操作はセンターのスタッフのみ行えます。"

    home_opened = event_callback({"type": "app_home_opened", "user": STAFF, "channel": "D1", "tab": "home"})
    assert (await desk.post(home_opened))[0] == 200
    [published] = [v for v in desk.slack.views if v.action == "publish"]
    shown = json.dumps(published.view, ensure_ascii=False)
    assert "未担当" in shown and case.number in shown and "今後のイベント" in shown

    # Every read of the case's personal data is in the audit log, with where, never what.
    reads = [
        (e.actor, e.detail)
        for e in await desk.bot.db.read.audit.for_subject("case", case.id)
        if e.action in ("case.card_posted", "case.viewed")
    ]
    assert reads == [
        ("slack", {"surface": "card", "channel": "C_NPO"}),
        (f"slack:{STAFF}", {"surface": "command"}),  # /madoguchi cases lists the name
        (f"slack:{STAFF}", {"surface": "command"}),  # /madoguchi case N shows it all
        (f"slack:{STAFF}", {"surface": "app_home"}),
    ]


async def test_an_ambiguous_card_post_is_retried_not_lost(desk: Desk) -> None:
    """chat.postMessage has no idempotency key: after a lost answer the card is posted again
    (at-least-once, docs/slack.md), and the case follows the card that was recorded."""
    desk.slack.fail_next("lost_response", method="chat.postMessage")
    await submit_intake(Citizen(desk.bot.base_url, desk.line))
    case = await card_posted(desk)
    cards = [m for m in desk.slack.messages_in("C_NPO") if m.get("blocks")]
    assert len(cards) == 2  # the lost one and the retry
    assert case.slack_ts == cards[-1]["ts"]
    assert (await desk.press(case, "case_claim"))[0] == 200
    await wait_for(lambda: "case_unclaim" in button_ids(desk.slack.message("C_NPO", case.slack_ts or "")))


async def test_an_image_from_the_citizen_lands_in_the_thread(desk: Desk) -> None:
    from bot.sandbox.line_webhook import image_event
    from tests.harness import post_events

    citizen = Citizen(desk.bot.base_url, desk.line)
    await submit_intake(citizen)
    case = await card_posted(desk)
    picture = b"\x89PNG\r\n\x1a\n" + b"flyer" * 100
    desk.line.set_content("m-flyer", picture, "image/png")
    event = image_event(USER, message_id="m-flyer", reply_token=desk.line.issue_reply_token(USER))
    assert (await post_events(desk.bot.base_url, [event]))[0] == 200
    await wait_for(lambda: any(u.completed for u in desk.slack.uploads))
    [upload] = desk.slack.uploads
    assert upload.data == picture and upload.completed
    assert (upload.channel, upload.thread_ts) == ("C_NPO", case.slack_ts)
    [stored] = [m for m in await desk.bot.db.read.cases.messages(case.id) if m.kind == "image"]
    assert stored.line_message_id == "m-flyer"
