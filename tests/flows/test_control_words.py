"""Control words (キャンセル, ストップ, 戻る, スキップ, 入力完了) typed as citizens type them: with a full
stop, a polite ending, full- or half-width (review 44 D3). One check (`matching.says`) for the engine,
the desk's intake, the which-case question and 配信停止 outside a consultation; only the whole message
is a control, so an answer that holds the word (キャンセル待ちの会) is never swallowed."""

from __future__ import annotations

import pytest

from flows import matching
from flows.desk import Reply
from flows.engine import BACK_WORDS, CANCEL_WORDS, DONE_WORDS
from flows.messages import Text
from storage import Database
from tests.conftest import NOW
from tests.flows.test_desk import TEXTS, Citizen

QUESTION = TEXTS.get("flow.cancel_question")


def said(reply: Reply) -> list[str]:
    return [m.text for m in reply.messages if isinstance(m, Text)]


async def at_name_question(citizen: Citizen) -> None:
    await citizen.say("相談する")
    await citizen.tap("yes")
    await citizen.tap("npo")
    await citizen.say("個人")


@pytest.mark.parametrize(
    "typed",
    ["ストップ。", "ストップします", "ｽﾄｯﾌﾟです", "キャンセルします", "キャンセル。", "キャンセルでお願いします",
     "やめます。", "中止してください", "ｷｬﾝｾﾙしたいです"],
)  # fmt: skip
async def test_a_polite_stop_or_cancel_at_the_name_question_asks_to_stop(db: Database, typed: str) -> None:
    citizen = Citizen(db)
    await at_name_question(citizen)
    reply = await citizen.say(typed)
    assert said(reply)[0].startswith(QUESTION), said(reply)
    conversation = await citizen.conversation()
    assert conversation is not None and "name" not in conversation.data.get("answers", {})
    stopped = await citizen.say("はい、取り消します。")
    assert said(stopped)[0] == TEXTS.get("flow.cancelled")
    assert await citizen.conversation() is None


@pytest.mark.parametrize("typed", ["キャンセル待ちの会", "ストップ山田", "中止 太郎さん", "やめますか"])
async def test_a_name_that_holds_a_control_word_is_the_answer(db: Database, typed: str) -> None:
    citizen = Citizen(db)
    await at_name_question(citizen)
    await citizen.say(typed)
    conversation = await citizen.conversation()
    assert conversation is not None and conversation.data["answers"]["name"] == typed


async def test_a_polite_back_goes_back_one_question(db: Database) -> None:
    citizen = Citizen(db)
    await at_name_question(citizen)
    await citizen.say("戻るです。")
    conversation = await citizen.conversation()
    assert conversation is not None and conversation.step == "requester_type"


async def test_done_with_a_full_stop_finishes_the_consultation_text(db: Database) -> None:
    """「以上です。」 at the consultation text finishes it; it is not added to the text."""
    citizen = Citizen(db)
    await at_name_question(citizen)
    for answer in ("山田花子", "やまだ はなこ", "LINEで"):
        await citizen.say(answer)
    conversation = await citizen.conversation()
    assert conversation is not None and conversation.step == "body"
    await citizen.say("NPOを立ち上げたいです。")
    await citizen.say("以上です。")
    conversation = await citizen.conversation()
    assert conversation is not None and conversation.step != "body"
    assert conversation.data["answers"]["body"] == "NPOを立ち上げたいです。"


@pytest.mark.parametrize("typed", ["ストップ。", "ストップします", "ＳＴＯＰです"])
async def test_a_polite_stop_outside_a_consultation_stops_announcements(db: Database, typed: str) -> None:
    citizen = Citizen(db)
    user = await citizen.user()
    async with db.transaction() as tx:
        await tx.subscriptions.choose(user.id, "seminar", True, NOW)
    reply = await citizen.say(typed)
    assert said(reply)[0] == TEXTS.get("announcements.stopped")
    assert await db.read.subscriptions.stopped(user.id)


def test_says_is_the_whole_message_folded_without_a_polite_ending() -> None:
    for typed in (
        "キャンセル",
        "ｷｬﾝｾﾙ",
        "キャンセル！",
        "キャンセル します",
        "キャンセルしたいです",
        "cancel.",
    ):
        assert matching.says(typed, CANCEL_WORDS), typed
    for typed in ("キャンセル待ち", "予約をキャンセル", "します", "です", "", "キャンセルしない"):
        assert not matching.says(typed, CANCEL_WORDS), typed
    assert matching.says("もどる。", BACK_WORDS) and matching.says("以上です", DONE_WORDS)
    assert matching.says("以上です。", DONE_WORDS) and matching.says("完了です", DONE_WORDS)
