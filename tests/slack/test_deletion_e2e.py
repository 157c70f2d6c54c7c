"""削除 end to end: a citizen with two consultations, a staff answer, a follow-up, a sign-up and messages
still waiting asks for deletion. Afterwards nothing of theirs is in the database file (main file and
WAL, searched byte by byte), the case cards in Slack say the data was deleted and show none of it,
the audit log says what happened without the data, and nothing more reaches the citizen.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from bot.sandbox.slack_signing import event_callback, message_event
from storage.cases import Case, NewCase
from storage.events import EventDraft
from storage.outbox_rows import LineMessages
from tests.harness import captured_log, wait_for
from tests.line.test_intake_e2e import USER, Citizen
from tests.personal_log import no_personal_data_in_log  # noqa: F401
from tests.slack.staff_desk import STAFF, settled, staff_desk
from tests.slack.test_desk_e2e import Desk, card_posted, submit_intake
from tests.test_retention import file_bytes

pytestmark = pytest.mark.usefixtures("no_personal_data_in_log")

# Everything personal the citizen (or staff, about them) wrote; none may survive the deletion.
PERSONAL = (
    "山田",
    "花子",
    "やまだ",
    "はなこ",
    "045-123-4567",
    "hanako@example.jp",
    "みずべの会",
    "NPO法人の設立手続き",
    "定款の雛形",
    "必要書類をご案内",
    "未送信のお知らせ",
    "届く前のお知らせ",
    "12月5日の午後",
)


def cards_of(desk: Desk, channel: str) -> list[dict[str, object]]:
    return [m for m in desk.slack.messages_in(channel) if m.get("blocks")]


async def prepare_citizen(desk: Desk) -> tuple[Case, Case]:
    """Two consultations (one through LINE with its card posted, one stored with every field), a
    staff answer and a follow-up in the first, a sign-up and a message that died."""
    citizen = Citizen(desk.bot.base_url, desk.line, desk.bot)
    await submit_intake(citizen)
    first = await card_posted(desk)
    answer = event_callback(
        message_event("C_NPO", STAFF, "返信:山田様、必要書類をご案内します。", thread_ts=first.slack_ts)
    )
    assert (await desk.post(answer))[0] == 200
    await wait_for(lambda: "✅ 相談者に送信しました。" in desk.thread(first))
    await citizen.type("定款の雛形もありますか？")
    await wait_for(lambda: any("定款の雛形" in t for t in desk.thread(first)))
    now = desk.bot.clock()
    async with desk.bot.db.transaction() as tx:
        user = await tx.users.by_line_id(USER)
        assert user is not None
        new = NewCase(
            user.id, "general", "NPO法人・市民活動団体", "山田 花子", "phone", "みずべの会の活動場所を探しています。",
            organisation="みずべの会", phone="045-123-4567", email="hanako@example.jp",
            preferred_dates="12月5日の午後", furigana="やまだ はなこ",
        )  # fmt: skip
        second = await tx.cases.create(new, now, 2026)
        event = await tx.events.upsert(
            EventDraft("salon-1", "salon", "ミズベサロン", now + timedelta(days=7)), now
        )
        await tx.registrations.put(event.id, user.id, "registered", 1, now)
        dead = await tx.outbox.add(LineMessages([{"type": "text", "text": "未送信のお知らせ"}]), USER, now)
        await tx.outbox.finish(dead.id, "dead", "gave up")
    return first, second


async def message_waiting(desk: Desk) -> None:
    """A message to the citizen that LINE refused for now, due again tomorrow (it heads their queue)."""
    now = desk.bot.clock()
    async with desk.bot.db.transaction() as tx:
        waiting = await tx.outbox.add(LineMessages([{"type": "text", "text": "届く前のお知らせ"}]), USER, now)
        await tx.outbox.retry_later(waiting.id, now + timedelta(days=1), "HTTP 500")


async def test_deletion_leaves_no_trace_in_the_file_updates_the_cards_and_sends_nothing_more(
    tmp_path: Path,
) -> None:
    with captured_log("山田 花子") as log:
        async with staff_desk(tmp_path, "channel-members") as desk:
            first, second = await prepare_citizen(desk)
            path = desk.bot.db.path
            raw = file_bytes(path)
            assert all(word.encode() in raw for word in ("山田 花子", "045-123-4567", "hanako@example.jp"))

            # Answered when the reply is accepted (the dead and the waiting rows never count as sent).
            citizen = Citizen(desk.bot.base_url, desk.line)
            asked = await citizen.type("個人情報を削除してください")
            question = asked[-1]["text"]
            assert f"{first.number}、{second.number}" in question and "元に戻せません" in question
            assert "1. はい、削除します\n2. いいえ" in question
            await message_waiting(desk)
            done = await citizen.type("はい")
            assert [m["text"] for m in done] == [
                "お預かりしていた個人情報を削除しました。削除したご相談について、こちらからご連絡することはありません。ご利用ありがとうございました。"
            ]
            confirmed = len(desk.line.sent_messages(USER))

            # The cards: redrawn (the first) or posted for the first time (the second), saying so.
            await settled(desk, first)
            await settled(desk, second)
            for case, channel in ((first, "C_NPO"), (second, "C_DEFAULT")):
                stored = await desk.bot.db.read.cases.get(case.id)
                assert stored is not None and stored.slack_ts is not None
                card = desk.slack.message(channel, stored.slack_ts)
                assert card is not None
                shown = json.dumps(card, ensure_ascii=False)
                assert "相談者の依頼によりデータを削除しました" in shown and case.number in shown
                assert not any(word in shown for word in PERSONAL), shown
                assert all(b["type"] != "actions" for b in card["blocks"])
            assert any("相談者の依頼により" in t for t in desk.thread(first))
            # The bot's own thread post of the citizen's follow-up is deleted from Slack too.
            assert not any("定款の雛形" in t for t in desk.thread(first))
            assert any(r.api_method == "chat.delete" and r.ok for r in desk.slack.requests)

            # Staff pressing an old button or answering in the thread reach no one.
            late = event_callback(
                message_event("C_NPO", STAFF, "返信:まだ届きますか？", thread_ts=first.slack_ts)
            )
            assert (await desk.post(late))[0] == 200
            await wait_for(lambda: any("削除されている" in e["text"] for e in desk.slack.ephemerals))

            # What is kept: numbers, categories, dates and status (closed) for statistics.
            kept = await desk.bot.db.read.cases.get(second.id)
            assert kept is not None
            assert (kept.number, kept.category, kept.status, kept.anonymised_reason) == (
                second.number, "general", "closed", "request")  # fmt: skip
            assert (kept.person_name, kept.phone, kept.email, kept.body, kept.user_id) == (
                "",
                None,
                None,
                "",
                None,
            )
            user = await desk.bot.db.read.users.by_line_id(USER)
            assert user is not None
            assert (user.display_name, user.privacy_agreed_at, user.privacy_notice_version) == (
                None,
                None,
                None,
            )
            assert await desk.bot.db.read.registrations.for_user(user.id) == []
            assert await desk.bot.db.read.conversations.get(user.id) is None
            statuses = [r.status for r in await desk.bot.db.read.outbox.in_order(f"line:{USER}")]
            assert "pending" not in statuses and "cancelled" in statuses
            [entry] = await desk.bot.db.read.audit.for_subject("user", user.id)
            assert (entry.action, entry.detail["cases"]) == (
                "citizen.data_deleted",
                [first.number, second.number],
            )
            assert (entry.detail["registrations"], entry.detail["messages"]) == (
                1,
                2,
            )  # the answer, the follow-up
            audit = await desk.bot.db.read.audit.for_subject("case", first.id)
            assert audit[-1].action == "case.anonymised" and audit[-1].detail["reason"] == "request"

            # Nothing personal is left anywhere in the file: not in a table, a free page or the WAL.
            raw = file_bytes(path)
            assert [word for word in PERSONAL if word.encode() in raw] == []
            # And nothing more went to the citizen after the confirmation.
            assert len(desk.line.sent_messages(USER)) == confirmed
    log.assert_clean()
    assert not any(word in log.text for word in PERSONAL), log.text


async def test_no_keeps_everything_and_resumes_the_intake(tmp_path: Path) -> None:
    async with staff_desk(tmp_path, "channel-members") as desk:
        citizen = Citizen(desk.bot.base_url, desk.line, desk.bot)
        await citizen.type("相談する")
        await citizen.tap("yes")
        await citizen.tap("npo")
        asked = await citizen.type("削除")
        assert "イベントのお申し込み、入力途中の内容" in asked[-1]["text"]
        assert [i["action"]["data"] for i in asked[-1]["quickReply"]["items"]] == ["delete:yes", "delete:no"]
        again = await citizen.type("削除")  # 削除 again is no answer: asked again, nothing deleted
        assert "削除しますか？" in again[-1]["text"]
        kept = await citizen.type("いいえ")
        assert (
            kept[0]["text"] == "削除を取りやめました。" and "どなたからのご相談ですか？" in kept[-1]["text"]
        )
        user = await desk.bot.db.read.users.by_line_id(USER)
        assert user is not None and user.privacy_agreed_at is not None
        conversation = await desk.bot.db.read.conversations.get(user.id)
        assert conversation is not None and conversation.data["answers"]["category"] == "npo"
