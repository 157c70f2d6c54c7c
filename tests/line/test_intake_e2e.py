"""A whole consultation intake through signed webhooks, the real SDK and the fake LINE platform."""

from __future__ import annotations

import re
import signal
from pathlib import Path
from typing import Any

import pytest

from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.line_webhook import image_event, postback_event, sticker_event, text_event
from storage import Database
from storage.cases import NewCase
from tests.harness import event_answered, post_events, settings_for, start_serve, wait_for, write_config
from tests.personal_log import no_personal_data_in_log  # noqa: F401

# The log as `serve` writes it must hold none of the test citizen's personal data (tests/personal_log.py).
pytestmark = pytest.mark.usefixtures("no_personal_data_in_log")

USER = "U_HANAKO"


class Citizen:
    """Taps and types on LINE, one event at a time, and reads what the bot answered.

    With the bot in this process (`bot`), an event is answered once its inbox row is done and every
    outgoing row of the citizen has been accepted by the fake LINE (a row LINE refused never counts
    as an answer, so the test fails). Against a separate process, the answer is the reply carrying
    the event's reply token, accepted: LINE takes a request's messages all at once, and the answers
    in that test are single requests."""

    def __init__(self, base_url: str, line: FakeLine, bot: Runtime | None = None) -> None:
        self.base_url = base_url
        self.line = line
        self.bot = bot

    async def _send(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        before = len(self.line.sent_messages(USER))
        assert (await post_events(self.base_url, [event]))[0] == 200
        await wait_for(lambda: self._answered(event))
        return [m.message for m in self.line.sent_messages(USER)[before:]]

    async def _answered(self, event: dict[str, Any]) -> bool:
        if self.bot is None:
            return any(
                r.status == 200 and (r.json or {}).get("replyToken") == event["replyToken"]
                for r in self.line.find_requests(path="/v2/bot/message/reply")
            )
        return await event_answered(self.bot.db.read, USER, event)

    async def type(self, text: str) -> list[dict[str, Any]]:
        return await self._send(text_event(USER, text, reply_token=self.line.issue_reply_token(USER)))

    async def tap(self, data: str) -> list[dict[str, Any]]:
        return await self._send(postback_event(USER, data, reply_token=self.line.issue_reply_token(USER)))

    async def sticker(self) -> list[dict[str, Any]]:
        return await self._send(sticker_event(USER, reply_token=self.line.issue_reply_token(USER)))

    async def image(self) -> list[dict[str, Any]]:
        return await self._send(image_event(USER, reply_token=self.line.issue_reply_token(USER)))


def quick_replies(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    items = messages[-1].get("quickReply", {}).get("items", [])
    return [(i["action"]["label"], i["action"]["data"]) for i in items]


async def test_a_complete_intake_stores_the_case_and_gives_its_number(bot: Runtime, line: FakeLine) -> None:
    citizen = Citizen(bot.base_url, line, bot)
    privacy = await citizen.type("相談する")
    assert "個人情報" in privacy[-1]["text"]
    assert quick_replies(privacy) == [("同意する", "yes"), ("同意しない", "no")]
    categories = await citizen.tap("yes")
    assert quick_replies(categories) == [
        ("総合相談", "general"),
        ("協働の相談・提案", "collaboration"),
        ("NPOの設立・運営", "npo"),
        ("士業相談（税理士・社会保険労務士）", "professional"),
        ("市民協働相談会（協働コーディネーター）", "coordinator"),
        ("その他", "other"),
        ("戻る", "flow:back"),
        ("キャンセル", "flow:cancel"),
    ]
    assert all(len(label) <= 20 for label, _ in quick_replies(categories))
    who = await citizen.tap("collaboration")
    assert [label for label, _ in quick_replies(who)][:7] == [
        "個人",
        "自治会・町内会",
        "NPO法人・市民活動団体",
        "企業",
        "大学・学校",
        "行政",
        "その他",
    ]
    assert (await citizen.tap("NPO法人・市民活動団体"))[-1][
        "text"
    ] == "団体・会社・学校などのお名前を教えてください。"
    assert "ご担当の方のお名前" in (await citizen.type("みずべの会"))[-1]["text"]
    assert "ふりがな" in (await citizen.type("山田 花子"))[-1]["text"]
    contact = await citizen.type("ヤマダ ハナコ")
    assert [d for _, d in quick_replies(contact)][:3] == ["line", "phone", "email"]
    await citizen.tap("phone")
    wrong = await citizen.type("045-12")
    assert wrong[0]["text"] == "電話番号をもう一度ご確認ください（例：045-123-4567）。"
    body = await citizen.type("０４５－１２３－４５６７")
    assert "ご相談内容" in body[-1]["text"]
    more = await citizen.type("川沿いの清掃活動を区と一緒にできないか相談したいです。")
    assert ("入力完了", "flow:done") in quick_replies(more)
    await citizen.type("月に一度、20人ほどで活動しています。")
    dates = await citizen.tap("flow:done")
    assert ("スキップ", "flow:skip") in quick_replies(dates)
    summary = await citizen.type("12月5日の午後")
    assert "みずべの会" in summary[0]["text"] and "045-123-4567" in summary[0]["text"]
    assert [d for _, d in quick_replies(summary)] == ["flow:confirm", "flow:edit", "flow:cancel"]
    received = await citizen.tap("flow:confirm")

    [case] = await bot.db.read.cases.with_status("new")
    assert case.number.endswith("-0001") and case.number in received[0]["text"]
    assert "土日祝日・年末年始を除く3日以内" in received[0]["text"]
    # The date of the answer, with the weekday.
    assert re.search(r"\d+月\d+日\([月火水木金土日]\)までに", received[0]["text"])
    assert (case.category, case.requester_type, case.organisation, case.person_name, case.furigana) == (
        "collaboration", "NPO法人・市民活動団体", "みずべの会", "山田 花子", "やまだ はなこ")  # fmt: skip
    assert (case.contact_method, case.phone, case.email, case.preferred_dates) == (
        "phone", "045-123-4567", None, "12月5日の午後")  # fmt: skip
    assert (
        case.body
        == "川沿いの清掃活動を区と一緒にできないか相談したいです。\n月に一度、20人ほどで活動しています。"
    )
    # Handed to the staff side: a Slack row in the category's channel, waiting for the staff desk.
    [handoff] = await bot.db.read.outbox.in_order(f"slack:case:{case.id}")
    assert (handoff.recipient, handoff.row.kind, handoff.status) == (
        "C_DEFAULT",
        "case_created",
        "pending",
    )
    assert await bot.db.read.conversations.get(case.user_id or 0) is None
    # Every answer was a free reply; the display name was looked up once the citizen agreed.
    assert {m.kind for m in line.sent_messages(USER)} == {"reply"}
    user = await bot.db.read.users.by_line_id(USER)
    assert user is not None and user.display_name == "山田 花子" and user.privacy_agreed_at is not None


async def test_fourteen_categories_are_paged_and_the_last_one_can_be_tapped_or_typed(
    tmp_path: Path, line: FakeLine
) -> None:
    extra = "".join(
        f'\n[[consultation.categories]]\nid = "c{n}"\nlabel = "相談の種類{n}"\n' for n in range(1, 15)
    )
    async with Runtime(settings_for(tmp_path, line.base_url, extra)) as bot:
        citizen = Citizen(bot.base_url, line, bot)
        await citizen.type("相談する")
        first = await citizen.tap("yes")  # accepted by the fake, which refuses a 14th quick reply
        assert len(quick_replies(first)) <= 13 and ("次へ", "flow:page:1") in quick_replies(first)
        assert "14. 相談の種類14" in first[-1]["text"]
        second = await citizen.tap("flow:page:1")
        assert ("相談の種類14", "c14") in quick_replies(second)
        assert "どなたから" in (await citizen.tap("c14"))[-1]["text"]
        await citizen.tap("flow:back")
        assert "どなたから" in (await citizen.type("14"))[-1]["text"]
        user = await bot.db.read.users.by_line_id(USER)
        assert user is not None
        conversation = await bot.db.read.conversations.get(user.id)
        assert conversation is not None and conversation.data["answers"]["category"] == "c14"


async def test_a_citizen_with_fourteen_open_cases_picks_the_fourteenth_by_paging_and_by_typing(
    bot: Runtime, line: FakeLine
) -> None:
    async with bot.db.transaction() as tx:
        user = await tx.users.ensure(USER, bot.clock())
        new = NewCase(user.id, "general", "個人", "山田 花子", "line", "NPOを立ち上げたいです。")
        cases = [await tx.cases.create(new, bot.clock(), 2026) for _ in range(14)]
    fourteenth = cases[13]
    citizen = Citizen(bot.base_url, line, bot)
    which = await citizen.type("領収書を送ります。")
    assert which[-1]["text"].startswith("どのご相談") and f"14. {fourteenth.number}" in which[-1]["text"]
    assert len(quick_replies(which)) <= 13 and ("次へ", "flow:page:1") in quick_replies(which)
    second = await citizen.tap("flow:page:1")
    assert (f"{fourteenth.number} 総合相談", f"followup:{fourteenth.id}") in quick_replies(second)
    added = await citizen.tap(f"followup:{fourteenth.id}")
    assert fourteenth.number in added[-1]["text"]
    await citizen.type("もう一通あります。")
    typed = await citizen.type("14")
    assert fourteenth.number in typed[-1]["text"]
    kept = await bot.db.read.cases.messages(fourteenth.id)
    assert [m.body for m in kept] == ["領収書を送ります。", "もう一通あります。"]
    assert [await bot.db.read.cases.messages(c.id) for c in cases[:13]] == [[]] * 13


async def test_declining_the_privacy_notice_stores_nothing_personal(bot: Runtime, line: FakeLine) -> None:
    citizen = Citizen(bot.base_url, line, bot)
    await citizen.type("相談する")
    declined = await citizen.tap("no")
    assert "保存していません" in declined[0]["text"]
    user = await bot.db.read.users.by_line_id(USER)
    assert user is not None
    assert (user.privacy_agreed_at, user.display_name) == (None, None)
    assert await bot.db.read.conversations.get(user.id) is None
    assert await bot.db.read.cases.for_user(user.id) == []
    assert line.find_requests(path="/v2/bot/profile") == []


async def test_killed_mid_flow_the_citizen_is_at_the_same_step_after_restart(tmp_path: Path) -> None:
    async with FakeLine(access_token="test-access-token") as line:
        line.set_profile(USER, "山田 花子")
        config = write_config(tmp_path, line.base_url)
        process, address, _ = await start_serve(config)
        try:
            citizen = Citizen(address, line)
            await citizen.type("相談する")
            await citizen.tap("yes")
            await citizen.tap("npo")
            asked = await citizen.tap("個人")
            assert asked[-1]["text"] == "お名前を教えてください（例：山田 花子）。"
        finally:
            process.kill()  # SIGKILL: no shutdown, no goodbye
            await process.wait()

        process, address, _ = await start_serve(config)
        try:
            citizen = Citizen(address, line)
            await citizen.type("山田 花子")
            contact = await citizen.type("やまだ はなこ")
            assert contact[-1]["text"].startswith("ご連絡の方法をお選びください。")
        finally:
            process.send_signal(signal.SIGTERM)
            assert await process.wait() == 0
        db = await Database.open(tmp_path / "madoguchi.sqlite3")
        try:
            user = await db.read.users.by_line_id(USER)
            assert user is not None
            conversation = await db.read.conversations.get(user.id)
            assert conversation is not None and conversation.step == "contact_method"
            assert conversation.data["answers"] == {
                "privacy": "yes", "category": "npo", "requester_type": "個人", "name": "山田 花子",
                "furigana": "やまだ はなこ"}  # fmt: skip
        finally:
            await db.close()


# -- typing only: LINE for PC shows no quick replies, and they vanish once the citizen types ----------


async def typed_through(citizen: Citizen, answers: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Type each answer and check the question it is answered with; return the last answer."""
    said: list[dict[str, Any]] = []
    for typed, expected in answers:
        said = await citizen.type(typed)
        assert any(expected in m.get("text", "") for m in said), (typed, said)
    return said


async def test_the_whole_intake_typed_with_numbers_by_an_individual(bot: Runtime, line: FakeLine) -> None:
    citizen = Citizen(bot.base_url, line, bot)
    privacy = await citizen.type("相談する")
    assert "1. 同意する\n2. 同意しない" in privacy[-1]["text"]
    received = await typed_through(
        citizen,
        [
            ("1", "1. 総合相談"),  # 同意する
            ("３", "1. 個人\n2. 自治会・町内会"),  # NPOの設立・運営, full-width
            ("1番", "お名前を教えてください（例：山田 花子）。"),  # 個人: no organisation, their own name
            ("山田 花子", "お名前のふりがなを教えてください"),
            ("ﾔﾏﾀﾞ ﾊﾅｺ", "1. LINEで\n2. 電話で\n3. メールで"),
            ("３", "メールアドレスを教えてください。"),
            ("ｈａｎａｋｏ＠ｅｘａｍｐｌｅ．ｊｐ", "ご相談内容をお書きください。"),
            ("NPOを立ち上げたいです。", "ここまで13文字"),
            ("入力完了", "「なし」と送ってください"),
            ("なし", "1. 送信する\n2. 修正する\n3. キャンセル"),
            ("1", "受付番号"),
        ],
    )
    [case] = await bot.db.read.cases.with_status("new")
    assert case.number in received[0]["text"]
    assert (case.category, case.requester_type, case.organisation, case.person_name, case.furigana) == (
        "npo", "個人", None, "山田 花子", "やまだ はなこ")  # fmt: skip
    assert (case.contact_method, case.email, case.body) == (
        "email",
        "hanako@example.jp",
        "NPOを立ち上げたいです。",
    )
    assert line.find_requests(path="/v2/bot/message/push") == []  # every answer a reply
    assert all(r.status == 200 for r in line.find_requests(path="/v2/bot/message/reply"))


async def test_the_whole_intake_typed_in_words_by_a_neighbourhood_association(
    bot: Runtime, line: FakeLine
) -> None:
    citizen = Citizen(bot.base_url, line, bot)
    await citizen.type("相談する")
    received = await typed_through(
        citizen,
        [
            ("同意します", "ご相談の種類をお選びください。"),
            ("協働", "当てはまるものが複数あります"),  # two categories say 協働: asked again, not guessed
            ("協働の相談", "どなたからのご相談ですか？"),
            ("町内会", "団体・会社・学校などのお名前"),
            ("みずべ町内会", "ご担当の方のお名前を教えてください"),
            ("佐藤 一郎", "ふりがな"),
            ("さとう いちろう", "ご連絡の方法をお選びください。"),
            ("でんわ", "お電話番号を教えてください"),
            ("０４５－１２３－４５６７", "ご相談内容をお書きください。"),
            ("川沿いの清掃を区と一緒にしたいです。", "入力完了"),
            ("以上", "面談をご希望の場合は"),
            ("12月5日の午後", "この内容で送信しますか？"),
            ("送信", "受付番号"),
        ],
    )
    [case] = await bot.db.read.cases.with_status("new")
    assert case.number in received[0]["text"]
    assert (case.category, case.requester_type, case.organisation, case.person_name, case.furigana) == (
        "collaboration", "自治会・町内会", "みずべ町内会", "佐藤 一郎", "さとう いちろう")  # fmt: skip
    assert (case.contact_method, case.phone, case.preferred_dates) == (
        "phone",
        "045-123-4567",
        "12月5日の午後",
    )
    assert line.find_requests(path="/v2/bot/message/push") == []


async def at_text(citizen: Citizen) -> None:
    """Through to the consultation text, typed: an individual answered on LINE."""
    await citizen.type("相談する")
    await typed_through(
        citizen,
        [("はい", "種類"), ("総合", "どなた"), ("個人", "お名前"), ("山田 花子", "ふりがな"),
         ("やまだ はなこ", "ご連絡の方法"), ("LINE", "ご相談内容")],
    )  # fmt: skip


async def conversation_data(bot: Runtime) -> dict[str, Any]:
    user = await bot.db.read.users.by_line_id(USER)
    assert user is not None
    conversation = await bot.db.read.conversations.get(user.id)
    assert conversation is not None
    return conversation.data


async def test_cancel_asks_first_and_no_keeps_everything(bot: Runtime, line: FakeLine) -> None:
    citizen = Citizen(bot.base_url, line, bot)
    await at_text(citizen)
    await citizen.type("NPOを立ち上げたいです。")
    asked = await citizen.tap("flow:cancel")  # the キャンセル next to 入力完了
    assert asked[-1]["text"].startswith("入力した内容をすべて取り消しますか？")
    assert ("いいえ、続けます", "flow:cancel:no") in quick_replies(asked)
    kept = await citizen.type("いいえ")
    assert kept[0]["text"] == "取り消さずに、このまま続けます。" and "13文字は保存" in kept[-1]["text"]
    assert (await conversation_data(bot))["buffer"] == ["NPOを立ち上げたいです。"]
    await citizen.type("入力完了")
    summary = await citizen.type("なし")
    assert "NPOを立ち上げたいです。" in summary[0]["text"]
    asked = await citizen.type("キャンセル")  # the キャンセル next to 送信する
    assert asked[-1]["text"].startswith("入力した内容をすべて取り消しますか？")
    kept = await citizen.type("いいえ")
    assert "この内容で送信しますか？" in kept[-1]["text"]
    assert (await conversation_data(bot))["answers"]["body"] == "NPOを立ち上げたいです。"
    await citizen.type("キャンセル")
    gone = await citizen.type("はい")
    assert gone[0]["text"] == "入力内容をすべて取り消しました。またいつでもご利用ください。"
    user = await bot.db.read.users.by_line_id(USER)
    assert user is not None and await bot.db.read.conversations.get(user.id) is None
    assert await bot.db.read.cases.for_user(user.id) == []


async def test_back_and_edit_keep_the_text(bot: Runtime, line: FakeLine) -> None:
    citizen = Citizen(bot.base_url, line, bot)
    await at_text(citizen)
    await citizen.type("NPOを立ち上げたいです。")
    back = await citizen.tap("flow:back")
    assert back[-1]["text"].startswith("ご連絡の方法をお選びください。")
    again = await citizen.type("LINE")
    assert "ここまでに届いた13文字は保存しています" in again[-1]["text"]
    await citizen.type("定款の作り方も知りたいです。")
    await citizen.type("入力完了")
    await citizen.type("なし")
    await citizen.type("修正する")
    shown = await citizen.type("ご相談内容")
    assert "NPOを立ち上げたいです。\n定款の作り方も知りたいです。" in shown[0]["text"]
    assert "1. 書き直す\n2. 追記する" in shown[-1]["text"]
    await citizen.type("追記する")
    await citizen.type("会員は10人です。")
    summary = await citizen.type("入力完了")
    assert "この内容で送信しますか？" in summary[-1]["text"]
    assert (await conversation_data(bot))["answers"]["body"] == (
        "NPOを立ち上げたいです。\n定款の作り方も知りたいです。\n会員は10人です。"
    )
    await citizen.type("修正")
    await citizen.type("6")  # ご相談内容, by its number in the list
    await citizen.type("書き直す")
    await citizen.type("短くまとめ直しました。")
    await citizen.type("入力完了")
    received = await citizen.type("送信する")
    [case] = await bot.db.read.cases.with_status("new")
    assert case.number in received[0]["text"] and case.body == "短くまとめ直しました。"


async def test_an_over_long_text_keeps_its_parts_and_says_the_counts(bot: Runtime, line: FakeLine) -> None:
    citizen = Citizen(bot.base_url, line, bot)
    await at_text(citizen)
    await citizen.type("あ" * 1200)
    await citizen.type("い" * 700)
    refused = await citizen.type("う" * 300)
    [said] = refused  # no question asked again: just the counts
    assert said["text"] == (
        "このメッセージ（300文字）を加えると2000文字を超えるため、お受けできませんでした。"
        "ここまでに届いた1900文字は保存しています。あと100文字まで送れます。"
        "短くしてお送りいただくか、「入力完了」と送ってください。"
    )
    assert (await conversation_data(bot))["buffer"] == ["あ" * 1200, "い" * 700]
    await citizen.type("う" * 100)
    await citizen.type("入力完了")
    assert (await conversation_data(bot))["answers"][
        "body"
    ] == "あ" * 1200 + "\n" + "い" * 700 + "\n" + "う" * 100


async def test_a_sticker_at_a_choice_and_an_image_at_the_text(bot: Runtime, line: FakeLine) -> None:
    citizen = Citizen(bot.base_url, line, bot)
    await citizen.type("相談する")
    await citizen.type("はい")
    sticker = await citizen.sticker()
    assert sticker[0]["text"] == "恐れ入りますが、次の中からお選びください。"
    assert "1. 総合相談" in sticker[-1]["text"]
    await typed_through(citizen, [("総合", "どなた"), ("こじん", "お名前"), ("やまだ はなこ", "ご連絡の方法"),
                                  ("ライン", "ご相談内容")])  # fmt: skip
    await citizen.type("資料を送りたいです。")
    image = await citizen.image()
    assert "入力の途中に届いた画像やファイルは保存していません" in image[0]["text"]
    assert "ご相談の受付後" in image[0]["text"] and "ここまでに届いた10文字は保存" in image[-1]["text"]
    assert (await conversation_data(bot))["buffer"] == ["資料を送りたいです。"]


async def test_an_image_outside_a_consultation_is_answered_honestly(bot: Runtime, line: FakeLine) -> None:
    citizen = Citizen(bot.base_url, line, bot)
    said = await citizen.image()
    assert "保存していません" in said[0]["text"]
    user = await bot.db.read.users.by_line_id(USER)
    assert user is not None and await bot.db.read.cases.for_user(user.id) == []
