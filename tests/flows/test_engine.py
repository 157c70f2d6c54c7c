"""The flow engine, transition by transition, on the real intake flow and wording. No network, no clock."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace

import pytest

from bot.config import DEFAULT_CATEGORIES
from flows import intake
from flows import state as state_io
from flows.engine import (
    BACK,
    CANCEL,
    CANCEL_NO,
    CANCEL_YES,
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


def at_contact(engine: Engine) -> State:
    """Named (in kanji, so asked the ふりがな too): the citizen is asked how to be answered."""
    result = say(engine, say(engine, at_name(engine), "山田 花子").state, "やまだ はなこ")
    assert result.state is not None and result.state.step == "contact_method"
    return result.state


def at_summary(engine: Engine, contact: str = "line") -> State:
    result = tap(engine, at_contact(engine), contact)
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
    assert result.state is not None and result.state.step == "furigana"
    result = say(engine, result.state, "ﾔﾏﾀﾞ ﾊﾅｺ")  # half-width katakana: stored as hiragana
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
        "furigana": "やまだ はなこ",
        "contact_method": "line",
        "body": "NPOを立ち上げたいです。\n定款の作り方を知りたいです。",
        "preferred_dates": "12月5日の午後",
    }
    summary = result.messages[0]
    assert isinstance(summary, Text)
    assert "NPOの設立・運営" in summary.text and "LINEで" in summary.text and "12月5日の午後" in summary.text
    assert values(result) == [CONFIRM, EDIT, CANCEL]
    assert tap(engine, result.state, CONFIRM).outcome == "confirmed"


def at_requester_type(engine: Engine) -> State:
    state = tap(engine, tap(engine, engine.start().state, "yes").state, "npo").state
    assert state is not None and state.step == "requester_type"
    return state


def test_the_requester_types_include_neighbourhood_associations_in_plain_words(engine: Engine) -> None:
    asked = engine.prompt(at_requester_type(engine))
    assert [c.label for c in last_text(Result(None, asked)).choices][:7] == [
        "個人", "自治会・町内会", "NPO法人・市民活動団体", "企業", "大学・学校", "行政", "その他"]  # fmt: skip


@pytest.mark.parametrize(
    "requester", ["自治会・町内会", "NPO法人・市民活動団体", "企業", "大学・学校", "行政", "その他"]
)
def test_an_organisation_is_asked_its_name_then_its_contact_person(engine: Engine, requester: str) -> None:
    result = tap(engine, at_requester_type(engine), requester)
    assert result.state is not None and result.state.step == "organisation"
    assert last_text(result).text == "団体・会社・学校などのお名前を教えてください。"
    result = say(engine, result.state, "みずべの会")
    assert result.state is not None and result.state.step == "name"
    assert last_text(result).text == "ご担当の方のお名前を教えてください（例：山田 花子）。"
    result = say(engine, result.state, "山田 花子")
    assert result.state is not None and result.state.step == "furigana"
    assert last_text(result).text.startswith("お名前のふりがなを教えてください")


def test_an_individual_is_asked_only_their_own_name(engine: Engine) -> None:
    result = tap(engine, at_requester_type(engine), "個人")
    assert result.state is not None and result.state.step == "name"
    assert last_text(result).text == "お名前を教えてください（例：山田 花子）。"
    assert "organisation" not in result.state.answers


@pytest.mark.parametrize(
    ("name", "asked"),
    [("山田 花子", True), ("佐々木", True), ("やまだ はなこ", False), ("John Smith", False)],
)
def test_the_furigana_is_asked_only_for_a_name_with_kanji(engine: Engine, name: str, asked: bool) -> None:
    result = say(engine, at_name(engine), name)
    assert result.state is not None
    assert result.state.step == ("furigana" if asked else "contact_method")


@pytest.mark.parametrize("typed", ["山田 花子", "yamada hanako", "やまだ1", "やまだ（はなこ）"])
def test_a_furigana_that_is_not_kana_is_asked_again(engine: Engine, typed: str) -> None:
    state = say(engine, at_name(engine), "山田 花子").state
    result = say(engine, state, typed)
    assert result.state == state
    assert result.messages[0] == Text("ふりがなは、ひらがなかカタカナでご入力ください（例：やまだ はなこ）。")


def test_an_unknown_choice_is_asked_again(engine: Engine) -> None:
    state = tap(engine, engine.start().state, "yes").state
    result = say(engine, state, "よくわからない")
    assert result.state == state
    assert result.messages[0] == Text("恐れ入りますが、次の中からお選びください。")
    assert last_text(result).text.startswith("ご相談の種類をお選びください。\n1. 総合相談\n")


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("045-123-4567", "045-123-4567"), ("０４５－１２３－４５６７", "045-123-4567"), ("09012345678", "09012345678"),
     ("090 1234 5678", "09012345678"), ("(045)123-4567", "045-123-4567")],
)  # fmt: skip
def test_phone_numbers_are_normalised(engine: Engine, typed: str, stored: str) -> None:
    state = tap(engine, at_contact(engine), "phone").state
    assert state is not None and state.step == "phone"
    result = say(engine, state, typed)
    assert result.state is not None and result.state.answers["phone"] == stored


@pytest.mark.parametrize("typed", ["045-123", "abc", "12345678901234", "045-123-456a", ""])
def test_a_bad_phone_number_gets_the_helpful_reask(engine: Engine, typed: str) -> None:
    state = tap(engine, at_contact(engine), "phone").state
    result = say(engine, state, typed)
    assert result.state == state
    assert isinstance(result.messages[0], Text)
    assert result.messages[0].text in (
        "電話番号をもう一度ご確認ください（例：045-123-4567）。",
        "文字が入力されていませんでした。もう一度お送りください。",
    )


def test_email_is_checked_and_normalised(engine: Engine) -> None:
    state = tap(engine, at_contact(engine), "email").state
    bad = say(engine, state, "hanako@")
    assert bad.state == state and "メールアドレスをもう一度" in str(bad.messages[0])
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
def test_cancel_with_nothing_to_lose_ends_at_once(engine: Engine, word: str) -> None:
    for state in (engine.start().state, tap(engine, engine.start().state, "yes").state):
        result = tap(engine, state, word) if word == CANCEL else say(engine, state, word)
        assert (result.outcome, result.state) == ("cancelled", None)


def at_body_with_text(engine: Engine) -> State:
    state = say(engine, tap(engine, at_contact(engine), "line").state, "NPOを立ち上げたいです。").state
    assert state is not None and state.step == "body" and state.buffer
    return state


@pytest.mark.parametrize("word", ["キャンセル", "やめる", CANCEL])
@pytest.mark.parametrize("step", ["name", "body", SUMMARY])
@pytest.mark.parametrize("yes", ["はい", "1", "１番", "はい、取り消します", "取り消す", CANCEL_YES])
def test_cancel_once_something_was_entered_asks_first(engine: Engine, word: str, step: str, yes: str) -> None:
    state = {"name": at_name(engine), "body": at_body_with_text(engine), SUMMARY: at_summary(engine)}[step]
    asked = tap(engine, state, word) if word == CANCEL else say(engine, state, word)
    assert asked.outcome == "continue" and asked.state == replace(state, pending="cancel")
    assert last_text(asked).text.startswith(
        "入力した内容をすべて取り消しますか？\n1. はい、取り消します\n2. いいえ、続けます"
    )
    assert values(asked) == [CANCEL_YES, CANCEL_NO]
    result = tap(engine, asked.state, yes) if yes == CANCEL_YES else say(engine, asked.state, yes)
    assert (result.outcome, result.state) == ("cancelled", None)


@pytest.mark.parametrize("no", ["いいえ", "2", "続ける", "戻る", CANCEL_NO, RESUME])
@pytest.mark.parametrize("step", ["name", "body", SUMMARY])
def test_no_to_the_cancel_question_keeps_everything(engine: Engine, step: str, no: str) -> None:
    state = {"name": at_name(engine), "body": at_body_with_text(engine), SUMMARY: at_summary(engine)}[step]
    asked = tap(engine, state, CANCEL)
    kept = tap(engine, asked.state, no) if no.startswith("flow:") else say(engine, asked.state, no)
    assert kept.outcome == "continue" and kept.state == state
    assert kept.messages == [Text("取り消さずに、このまま続けます。"), *engine.prompt(state)]


def test_anything_else_at_the_cancel_question_asks_it_again(engine: Engine) -> None:
    asked = tap(engine, at_body_with_text(engine), CANCEL)
    again = engine.handle(asked.state or State("x"), Inbound("sticker"))
    assert again.state == asked.state and last_text(again) == last_text(asked)
    again = say(engine, asked.state, "えっと")
    assert again.state == asked.state and last_text(again) == last_text(asked)


def test_edit_one_answer_from_the_summary_and_come_back(engine: Engine) -> None:
    summary = at_summary(engine)
    picking = tap(engine, summary, EDIT)
    assert EDIT_PREFIX + "name" in values(picking) and EDIT_PREFIX + "privacy" not in values(picking)
    editing = tap(engine, picking.state, EDIT_PREFIX + "name")
    assert editing.state is not None and editing.state.step == "name" and BACK in values(editing)
    # A new name needs its ふりがな again: asked before the summary.
    furigana = say(engine, editing.state, "田中 一郎")
    assert furigana.state is not None and furigana.state.step == "furigana"
    assert "furigana" not in furigana.state.answers
    back = say(engine, furigana.state, "たなか いちろう")
    assert back.state is not None and back.state.step == SUMMARY
    assert back.state.answers == {**summary.answers, "name": "田中 一郎", "furigana": "たなか いちろう"}


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


def test_an_over_long_part_is_refused_with_the_counts_and_the_parts_before_it_kept(engine: Engine) -> None:
    state = tap(engine, at_contact(engine), "line").state
    result = say(engine, state, "あ" * 1500)
    too_much = say(engine, result.state, "い" * 600)
    assert too_much.state == result.state  # the 1,500 characters are kept, the 600 not taken
    [said] = too_much.messages  # the counts, and not the whole question again
    assert isinstance(said, Text)
    assert "600文字" in said.text and "1500文字は保存" in said.text and "あと500文字" in said.text
    assert [c.value for c in said.choices] == [DONE, BACK, CANCEL]
    fits = say(engine, too_much.state, "い" * 500)
    done = tap(engine, fits.state, DONE)
    assert done.state is not None and done.state.answers["body"] == "あ" * 1500 + "\n" + "い" * 500


def test_a_first_part_over_the_limit_says_the_limit_and_its_length(engine: Engine) -> None:
    state = tap(engine, at_contact(engine), "line").state
    result = say(engine, state, "あ" * 2001)
    assert result.state == state
    [said] = result.messages
    assert isinstance(said, Text) and "2000文字まで" in said.text and "2001文字" in said.text


def test_done_before_any_text_asks_for_it(engine: Engine) -> None:
    state = tap(engine, at_contact(engine), "line").state
    empty = tap(engine, state, DONE)
    assert empty.state == state and "ご相談内容がまだ届いていません" in str(empty.messages[0])


def test_a_sticker_mid_flow_asks_for_text_and_repeats_the_question(engine: Engine) -> None:
    state = at_name(engine)
    result = engine.handle(state, Inbound("sticker"))
    assert result.state == state
    assert result.messages == [Text("恐れ入りますが、文字でご入力ください。"), *engine.prompt(state)]


@pytest.mark.parametrize("inbound", [Inbound("sticker"), Inbound("media", media="image", message_id="m1")])
def test_a_sticker_or_image_at_a_choice_asks_to_choose_with_the_options_again(
    engine: Engine, inbound: Inbound
) -> None:
    state = at_contact(engine)
    result = engine.handle(state, inbound)
    assert result.state == state
    assert result.messages == [Text("恐れ入りますが、次の中からお選びください。"), *engine.prompt(state)]
    assert "1. LINEで\n2. 電話で\n3. メールで" in last_text(result).text


@pytest.mark.parametrize("media", ["image", "video", "file"])
def test_an_image_at_a_text_question_says_it_can_be_sent_once_received(engine: Engine, media: str) -> None:
    state = at_body_with_text(engine)
    result = engine.handle(state, Inbound("media", media=media, message_id="m1"))
    assert result.state == state  # the text typed so far is kept
    assert "ご相談の受付後" in str(result.messages[0]) and "保存していません" in str(result.messages[0])
    assert result.messages[1:] == engine.prompt(state)


def test_back_during_the_text_keeps_what_was_typed(engine: Engine) -> None:
    state = at_body_with_text(engine)
    back = tap(engine, state, BACK)
    assert back.state is not None and back.state.step == "contact_method"
    assert back.state.buffer == ("NPOを立ち上げたいです。",)
    again = say(engine, back.state, "電話")
    again = say(engine, again.state, "045-123-4567")
    assert again.state is not None and again.state.step == "body"
    assert "ここまでに届いた13文字は保存しています" in last_text(again).text and DONE in values(again)
    more = say(engine, again.state, "定款も知りたいです。")
    done = tap(engine, more.state, DONE)
    assert done.state is not None
    assert done.state.answers["body"] == "NPOを立ち上げたいです。\n定款も知りたいです。"


def editing_body(engine: Engine) -> Result:
    summary = at_summary(engine)
    picking = say(engine, summary, "修正")
    return say(engine, picking.state, "ご相談内容")


def test_editing_the_text_shows_it_and_asks_rewrite_or_append(engine: Engine) -> None:
    shown = editing_body(engine)
    assert shown.state is not None and (shown.state.step, shown.state.pending) == ("body", "rewrite")
    current, question = shown.messages
    assert isinstance(current, Text) and "NPOを立ち上げたいです。" in current.text
    assert isinstance(question, Text) and "1. 書き直す\n2. 追記する" in question.text
    assert values(shown)[:2] == ["flow:rewrite", "flow:append"]


@pytest.mark.parametrize("append", ["追記する", "2", "追記", "flow:append"])
def test_append_keeps_the_text_and_adds_to_it(engine: Engine, append: str) -> None:
    shown = editing_body(engine)
    adding = (
        tap(engine, shown.state, append) if append.startswith("flow:") else say(engine, shown.state, append)
    )
    assert adding.state is not None and adding.state.buffer == ("NPOを立ち上げたいです。",)
    more = say(engine, adding.state, "定款の作り方も。")
    done = say(engine, more.state, "入力完了")
    assert done.state is not None and done.state.step == SUMMARY
    assert done.state.answers["body"] == "NPOを立ち上げたいです。\n定款の作り方も。"


@pytest.mark.parametrize("rewrite", ["書き直す", "1", "flow:rewrite"])
def test_rewrite_replaces_the_text_and_back_leaves_it_unchanged(engine: Engine, rewrite: str) -> None:
    shown = editing_body(engine)
    writing = (
        tap(engine, shown.state, rewrite)
        if rewrite.startswith("flow:")
        else say(engine, shown.state, rewrite)
    )
    assert writing.state is not None and writing.state.buffer == () and writing.state.pending == ""
    kept = tap(engine, writing.state, BACK)  # changed their mind: the summary, text unchanged
    assert kept.state is not None and kept.state.step == SUMMARY
    assert kept.state.answers["body"] == "NPOを立ち上げたいです。"
    new = say(engine, writing.state, "別の相談です。")
    done = tap(engine, new.state, DONE)
    assert done.state is not None and done.state.answers["body"] == "別の相談です。"


def test_back_to_the_text_from_the_next_question_shows_it_instead_of_asking_again(engine: Engine) -> None:
    dates = tap(engine, at_body_with_text(engine), DONE)
    assert dates.state is not None and dates.state.step == "preferred_dates"
    back = say(engine, dates.state, "戻る")
    assert back.state is not None and (back.state.step, back.state.pending) == ("body", "rewrite")
    assert "NPOを立ち上げたいです。" in str(back.messages[0])
    adding = say(engine, back.state, "追記する")
    done = say(engine, adding.state, "以上")
    assert done.state is not None and done.state.step == "preferred_dates"
    assert done.state.answers["body"] == "NPOを立ち上げたいです。"


def test_the_whole_intake_by_typing_only(engine: Engine) -> None:
    state = engine.start().state
    for typed in ("同意します", "NPO", "自治会", "みずべ町内会", "山田 花子", "やまだ はなこ", "でんわ",
                  "045-123-4567", "川の清掃について。", "入力完了", "なし", "送信"):  # fmt: skip
        result = say(engine, state, typed)
        if result.outcome == "confirmed":
            break
        assert result.state is not None and result.state != state, typed
        state = result.state
    assert result.outcome == "confirmed" and state is not None
    assert state.answers == {
        "privacy": "yes", "category": "npo", "requester_type": "自治会・町内会", "organisation": "みずべ町内会",
        "name": "山田 花子", "furigana": "やまだ はなこ", "contact_method": "phone", "phone": "045-123-4567",
        "body": "川の清掃について。", "preferred_dates": None}  # fmt: skip


# Questions answered by typing, reached by a button whose second tap (a quick double tap sends two
# postbacks) or an older button of another question could arrive there next.
TYPED_QUESTIONS: dict[str, Callable[[Engine], State | None]] = {
    "organisation": lambda e: tap(e, at_requester_type(e), "企業").state,
    "name": at_name,
    "furigana": lambda e: say(e, at_name(e), "山田 花子").state,
    "phone": lambda e: tap(e, at_contact(e), "phone").state,
    "email": lambda e: tap(e, at_contact(e), "email").state,
    "body": lambda e: tap(e, at_contact(e), "line").state,
    "body_with_text": at_body_with_text,
    "preferred_dates": lambda e: tap(e, at_body_with_text(e), DONE).state,
}


@pytest.mark.parametrize(
    ("question", "value"),
    [("organisation", "企業"), ("name", "個人"), ("name", "collaboration"), ("name", SKIP),
     ("name", CONFIRM), ("furigana", "個人"), ("phone", "phone"), ("email", "email"), ("body", "line"),
     ("body_with_text", "line"), ("body_with_text", "yes"), ("preferred_dates", DONE)],
)  # fmt: skip
def test_a_button_at_a_question_to_be_typed_is_no_answer_and_the_question_is_asked_again(
    engine: Engine, question: str, value: str
) -> None:
    """A button's value never becomes what the citizen typed (企業 as the organisation's name, the
    category id `collaboration` as a name, flow:skip at a question that cannot be skipped)."""
    state = TYPED_QUESTIONS[question](engine)
    assert state is not None
    assert tap(engine, state, value) == Result(state, engine.prompt(state))


@pytest.mark.parametrize("question", TYPED_QUESTIONS)
def test_the_controls_still_work_at_a_question_to_be_typed(engine: Engine, question: str) -> None:
    state = TYPED_QUESTIONS[question](engine)
    assert state is not None and state.history
    back = tap(engine, state, BACK)
    assert back.state is not None and back.state.step == state.history[-1]
    assert tap(engine, state, CANCEL).state == replace(state, pending="cancel")
    assert tap(engine, state, RESUME) == Result(state, engine.prompt(state))
    if engine.flow.step(state.step).optional:
        skipped = tap(engine, state, SKIP)
        assert skipped.state is not None and skipped.state.step == SUMMARY


def test_resume_repeats_the_current_question(engine: Engine) -> None:
    state = at_name(engine)
    assert tap(engine, state, RESUME) == Result(state, engine.prompt(state))


def test_state_survives_json(engine: Engine) -> None:
    state = tap(engine, at_summary(engine), EDIT).state
    assert state is not None
    again = state_io.load(State, json.loads(json.dumps(state_io.dump(state), ensure_ascii=False)), state.step)
    assert again == state


def test_every_prompt_fits_line_quick_replies(engine: Engine) -> None:
    """At most 13 choices, labels of at most 20 characters, at every step of the flow."""
    for step in engine.flow.steps:
        for state in (State(step=step.key), State(step=step.key, history=("privacy",), buffer=("x",))):
            for message in engine.prompt(state):
                assert isinstance(message, Text)
                assert len(message.choices) <= 13
                assert all(len(c.label) <= 20 for c in message.choices), step.key
