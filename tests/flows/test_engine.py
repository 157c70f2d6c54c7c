"""The flow engine, transition by transition, on the real intake flow and wording. No network, no clock."""

from __future__ import annotations

import json

import pytest

from bot.config import DEFAULT_CATEGORIES
from flows import intake
from flows.engine import (
    BACK,
    CANCEL,
    CONFIRM,
    DONE,
    EDIT,
    EDIT_PREFIX,
    RESUME,
    SKIP,
    SUMMARY,
    Engine,
    Result,
    State,
)
from flows.messages import Inbound, Text
from flows.texts import Texts

TEXTS = Texts.load()
CATEGORIES = tuple((c.id, c.label) for c in DEFAULT_CATEGORIES)


@pytest.fixture
def engine() -> Engine:
    return intake.engine(CATEGORIES, TEXTS)


def say(engine: Engine, state: State | None, text: str) -> Result:
    assert state is not None
    return engine.handle(state, Inbound("text", text=text))


def tap(engine: Engine, state: State | None, value: str) -> Result:
    assert state is not None
    return engine.handle(state, Inbound("choice", value=value))


def last_text(result: Result) -> Text:
    message = result.messages[-1]
    assert isinstance(message, Text)
    return message


def values(result: Result) -> list[str]:
    return [c.value for c in last_text(result).choices]


def labels(result: Result) -> list[str]:
    return [c.label for c in last_text(result).choices]


def at_name(engine: Engine) -> State:
    state = engine.start().state
    for value in ("yes", "npo", "個人"):
        state = tap(engine, state, value).state
    assert state is not None and state.step == "name"
    return state


def at_summary(engine: Engine, contact: str = "line") -> State:
    result = say(engine, at_name(engine), "山田 花子")
    result = tap(engine, result.state, contact)
    if contact == "phone":
        result = say(engine, result.state, "045-123-4567")
    result = say(engine, result.state, "NPOを立ち上げたいです。")
    result = tap(engine, result.state, DONE)
    result = tap(engine, result.state, SKIP)
    assert result.state is not None and result.state.step == SUMMARY
    return result.state


def test_start_asks_for_privacy_agreement_without_cancel_or_back(engine: Engine) -> None:
    result = engine.start()
    assert result.state is not None and result.state.step == "privacy"
    assert "個人情報" in last_text(result).text
    assert labels(result) == ["同意する", "同意しない"]


def test_declining_privacy_ends_with_nothing_kept(engine: Engine) -> None:
    result = tap(engine, engine.start().state, "no")
    assert (result.outcome, result.state) == ("declined", None)
    assert "保存していません" in last_text(result).text


def test_the_whole_path_of_an_individual(engine: Engine) -> None:
    result = tap(engine, engine.start().state, "yes")
    assert result.state is not None and result.state.step == "category"
    assert values(result)[:6] == [cid for cid, _ in CATEGORIES] and values(result)[-2:] == [BACK, CANCEL]
    result = tap(engine, result.state, "npo")
    result = say(engine, result.state, "個人")  # typed instead of tapped: the label counts
    assert result.state is not None and result.state.step == "name"  # no organisation for 個人
    result = say(engine, result.state, "  山田 花子 ")
    result = tap(engine, result.state, "line")
    assert result.state is not None and result.state.step == "body"  # no phone or email for LINE
    result = say(engine, result.state, "NPOを立ち上げたいです。")
    assert DONE in values(result) and result.state is not None and result.state.step == "body"
    result = say(engine, result.state, "定款の作り方を知りたいです。")
    result = tap(engine, result.state, DONE)
    assert result.state is not None and result.state.step == "preferred_dates"
    assert SKIP in values(result)
    result = say(engine, result.state, "12月5日の午後")
    assert result.state is not None and result.state.step == SUMMARY
    assert result.state.answers == {
        "privacy": "yes",
        "category": "npo",
        "requester_type": "個人",
        "name": "山田 花子",
        "contact_method": "line",
        "body": "NPOを立ち上げたいです。\n定款の作り方を知りたいです。",
        "preferred_dates": "12月5日の午後",
    }
    summary = result.messages[0]
    assert isinstance(summary, Text)
    assert "NPOの設立・運営" in summary.text and "LINEで" in summary.text and "12月5日の午後" in summary.text
    assert values(result) == [CONFIRM, EDIT, CANCEL]
    assert tap(engine, result.state, CONFIRM).outcome == "confirmed"


def test_an_organisation_is_asked_its_name(engine: Engine) -> None:
    state = tap(engine, tap(engine, engine.start().state, "yes").state, "npo").state
    result = tap(engine, state, "NPO法人")
    assert result.state is not None and result.state.step == "organisation"
    result = say(engine, result.state, "みずべの会")
    assert result.state is not None and result.state.step == "name"


def test_an_unknown_choice_is_asked_again(engine: Engine) -> None:
    state = tap(engine, engine.start().state, "yes").state
    result = say(engine, state, "よくわからない")
    assert result.state == state
    assert result.messages[0] == Text("恐れ入りますが、下のボタンから選んでください。")
    assert last_text(result).text == "ご相談の種類を選んでください。"


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("045-123-4567", "045-123-4567"), ("０４５－１２３－４５６７", "045-123-4567"), ("09012345678", "09012345678"),
     ("090 1234 5678", "09012345678"), ("(045)123-4567", "045-123-4567")],
)  # fmt: skip
def test_phone_numbers_are_normalised(engine: Engine, typed: str, stored: str) -> None:
    state = tap(engine, say(engine, at_name(engine), "山田").state, "phone").state
    assert state is not None and state.step == "phone"
    result = say(engine, state, typed)
    assert result.state is not None and result.state.answers["phone"] == stored


@pytest.mark.parametrize("typed", ["045-123", "abc", "12345678901234", "045-123-456a", ""])
def test_a_bad_phone_number_gets_the_helpful_reask(engine: Engine, typed: str) -> None:
    state = tap(engine, say(engine, at_name(engine), "山田").state, "phone").state
    result = say(engine, state, typed)
    assert result.state == state
    assert isinstance(result.messages[0], Text)
    assert result.messages[0].text in (
        "電話番号の形式が正しくないようです。例: 045-123-4567",
        "内容が空のようです。もう一度ご入力ください。",
    )


def test_email_is_checked_and_normalised(engine: Engine) -> None:
    state = tap(engine, say(engine, at_name(engine), "山田").state, "email").state
    bad = say(engine, state, "hanako@")
    assert bad.state == state and "メールアドレスの形式" in str(bad.messages[0])
    good = say(engine, state, "ｈａｎａｋｏ＠ｅｘａｍｐｌｅ．ｊｐ")
    assert good.state is not None and good.state.answers["email"] == "hanako@example.jp"


def test_back_goes_one_step_and_stays_at_the_first(engine: Engine) -> None:
    result = tap(engine, at_name(engine), BACK)
    assert result.state is not None and result.state.step == "requester_type"
    result = say(engine, result.state, "戻る")
    assert result.state is not None and result.state.step == "category"
    first = engine.start().state
    assert tap(engine, first, BACK).state == first


@pytest.mark.parametrize("word", ["キャンセル", "やめる", CANCEL])
@pytest.mark.parametrize("step", ["privacy", "name", "body", SUMMARY])
def test_cancel_works_at_any_step(engine: Engine, word: str, step: str) -> None:
    state = {"privacy": engine.start().state, "name": at_name(engine), SUMMARY: at_summary(engine)}.get(step)
    if step == "body":
        state = tap(engine, say(engine, at_name(engine), "山田").state, "line").state
    result = tap(engine, state, word) if word == CANCEL else say(engine, state, word)
    assert (result.outcome, result.state) == ("cancelled", None)


def test_edit_one_answer_from_the_summary_and_come_back(engine: Engine) -> None:
    summary = at_summary(engine)
    picking = tap(engine, summary, EDIT)
    assert EDIT_PREFIX + "name" in values(picking) and EDIT_PREFIX + "privacy" not in values(picking)
    editing = tap(engine, picking.state, EDIT_PREFIX + "name")
    assert editing.state is not None and editing.state.step == "name" and BACK in values(editing)
    back = say(engine, editing.state, "田中 一郎")
    assert back.state is not None and back.state.step == SUMMARY
    assert back.state.answers == {**summary.answers, "name": "田中 一郎"}


def test_changing_the_contact_method_asks_only_what_is_now_needed(engine: Engine) -> None:
    summary = at_summary(engine, contact="phone")
    assert summary.answers["phone"] == "045-123-4567"
    editing = tap(engine, tap(engine, summary, EDIT).state, EDIT_PREFIX + "contact_method")
    asked = tap(engine, editing.state, "email")
    assert asked.state is not None and asked.state.step == "email"
    done = say(engine, asked.state, "hanako@example.jp")
    assert done.state is not None and done.state.step == SUMMARY
    assert "phone" not in done.state.answers and done.state.answers["email"] == "hanako@example.jp"


def test_back_while_editing_returns_to_the_summary_unchanged(engine: Engine) -> None:
    summary = at_summary(engine)
    editing = tap(engine, tap(engine, summary, EDIT).state, EDIT_PREFIX + "body")
    result = tap(engine, editing.state, BACK)
    assert (
        result.state is not None and result.state.step == SUMMARY and result.state.answers == summary.answers
    )


def test_consultation_text_has_a_documented_length_limit(engine: Engine) -> None:
    state = tap(engine, say(engine, at_name(engine), "山田").state, "line").state
    result = say(engine, state, "あ" * 1500)
    too_much = say(engine, result.state, "い" * 600)
    assert too_much.state == result.state
    assert isinstance(too_much.messages[0], Text) and "2000文字以内" in too_much.messages[0].text
    empty = tap(engine, state, DONE)
    assert empty.state == state and "空" in str(empty.messages[0])


def test_a_sticker_mid_flow_asks_for_text_and_repeats_the_question(engine: Engine) -> None:
    state = at_name(engine)
    result = engine.handle(state, Inbound("sticker"))
    assert result.state == state
    assert last_text(result).text == "ご担当の方のお名前を教えてください。"


def test_resume_repeats_the_current_question(engine: Engine) -> None:
    state = at_name(engine)
    assert tap(engine, state, RESUME) == Result(state, engine.prompt(state))


def test_state_survives_json(engine: Engine) -> None:
    state = tap(engine, at_summary(engine), EDIT).state
    assert state is not None
    again = State.from_data(state.step, json.loads(json.dumps(state.to_data(), ensure_ascii=False)))
    assert again == state


def test_every_prompt_fits_line_quick_replies(engine: Engine) -> None:
    """At most 13 choices, labels of at most 20 characters, at every step of the flow."""
    for step in engine.flow.steps:
        for state in (State(step=step.key), State(step=step.key, history=("privacy",), buffer=("x",))):
            for message in engine.prompt(state):
                assert isinstance(message, Text)
                assert len(message.choices) <= 13
                assert all(len(c.label) <= 20 for c in message.choices), step.key
