"""A typed answer to a question with options (flows.matching), on the intake's real options and wording.

Quick replies vanish once the citizen types and LINE for PC shows none: every option must be
reachable by its number, its label, a natural part of it, or a common variant, in full or half width.
"""

from __future__ import annotations

import pytest

from bot.config import DEFAULT_CATEGORIES
from flows import intake, matching
from flows.engine import Engine, State
from flows.messages import Choice, Inbound, Text
from flows.texts import Texts

TEXTS = Texts.load()
CATEGORIES = tuple((c.id, c.label) for c in DEFAULT_CATEGORIES)
FLOW = intake.intake_flow(CATEGORIES, TEXTS)


def options(step: str) -> tuple[Choice, ...]:
    return FLOW.step(step).choices


def picked(text: str, step: str) -> str | None:
    found = matching.match(text, options(step))
    return None if found.choice is None else found.choice.value


@pytest.mark.parametrize(
    ("typed", "value"),
    [
        ("電話", "phone"), ("でんわ", "phone"), ("デンワ", "phone"), ("TEL", "phone"), ("tel", "phone"),
        ("ＴＥＬ", "phone"), ("phone", "phone"), ("電話で", "phone"), ("電話でお願いします", "phone"),
        ("携帯", "phone"), ("2", "phone"), ("２", "phone"), ("2番", "phone"), ("２番", "phone"),
        ("メール", "email"), ("めーる", "email"), ("ﾒｰﾙ", "email"), ("mail", "email"), ("E-mail", "email"),
        ("Eメール", "email"), ("Ｅメール", "email"), ("メールでお願いします。", "email"), ("3", "email"),
        ("LINE", "line"), ("line", "line"), ("ＬＩＮＥ", "line"), ("ライン", "line"), ("らいん", "line"),
        ("LINEで", "line"), ("１", "line"), (" 1 ", "line"),
    ],
)  # fmt: skip
def test_the_contact_method_by_word_number_or_variant(typed: str, value: str) -> None:
    assert picked(typed, "contact_method") == value


@pytest.mark.parametrize(
    ("typed", "value"),
    [
        ("個人", "個人"), ("こじん", "個人"), ("コジン", "個人"), ("1", "個人"),
        ("自治会", "自治会・町内会"), ("町内会", "自治会・町内会"), ("自治会・町内会", "自治会・町内会"),
        ("自治会町内会", "自治会・町内会"), ("〇〇町内会です", "自治会・町内会"),
        ("NPO", "NPO法人・市民活動団体"), ("ＮＰＯ", "NPO法人・市民活動団体"), ("npo法人", "NPO法人・市民活動団体"),
        ("NPO法人です", "NPO法人・市民活動団体"), ("任意団体", "NPO法人・市民活動団体"),
        ("市民活動", "NPO法人・市民活動団体"), ("3番", "NPO法人・市民活動団体"),
        ("会社", "企業"), ("企業", "企業"), ("大学", "大学・学校"), ("学校", "大学・学校"),
        ("区役所", "行政"), ("その他", "その他"), ("７", "その他"),
    ],
)  # fmt: skip
def test_the_requester_type_by_word_number_or_variant(typed: str, value: str) -> None:
    assert picked(typed, "requester_type") == value


@pytest.mark.parametrize(
    ("typed", "value"),
    [("同意する", "yes"), ("同意", "yes"), ("はい", "yes"), ("ok", "yes"), ("ＯＫ", "yes"), ("1", "yes"),
     ("同意しない", "no"), ("いいえ", "no"), ("2", "no"), ("同意しません", "no")],
)  # fmt: skip
def test_the_privacy_answer_by_word_or_number(typed: str, value: str) -> None:
    assert picked(typed, "privacy") == value


@pytest.mark.parametrize(
    ("typed", "value"), [("NPO", "npo"), ("税理士", "professional"), ("総合", "general")]
)
def test_a_category_by_a_part_of_its_label(typed: str, value: str) -> None:
    assert picked(typed, "category") == value


@pytest.mark.parametrize(
    ("typed", "step"), [("協働", "category"), ("相談", "category"), ("LINEで電話", "contact_method")]
)
def test_a_part_that_fits_several_options_is_ambiguous_never_guessed(typed: str, step: str) -> None:
    found = matching.match(typed, options(step))
    assert found.choice is None and found.ambiguous and len(found.candidates) >= 2


@pytest.mark.parametrize("typed", ["", "  ", "0", "8", "99", "よくわからない", "い", "ー"])
def test_nothing_fits(typed: str) -> None:
    found = matching.match(typed, options("requester_type"))
    assert found.choice is None and not found.ambiguous


def test_an_ambiguous_answer_asks_again_listing_the_options() -> None:
    engine = Engine(FLOW, TEXTS)
    state = State("category", answers={"privacy": "yes"}, history=("privacy",))
    result = engine.handle(state, Inbound("text", text="協働"))
    assert result.state == state
    assert result.messages[0] == Text("当てはまるものが複数あります。次の中から番号でお選びください。")
    question = result.messages[-1]
    assert isinstance(question, Text)
    assert (
        "2. 協働の相談・提案" in question.text
        and "5. 市民協働相談会（協働コーディネーター）" in question.text
    )


def test_a_button_of_another_question_names_nothing_even_when_its_value_looks_like_a_word() -> None:
    engine = Engine(FLOW, TEXTS)
    state = State("contact_method", answers={"privacy": "yes"}, history=("privacy",))
    result = engine.handle(state, Inbound("choice", value="npo"))
    assert result.state == state and result.messages[0] == Text(TEXTS.get("invalid.choice"))


def test_every_choice_question_lists_its_options_numbered_short_lists_too() -> None:
    engine = Engine(FLOW, TEXTS, {"policy": ""})
    for step in FLOW.steps:
        if step.kind not in ("choice", "yes_no"):
            continue
        [asked] = engine.prompt(State(step.key))
        assert isinstance(asked, Text)
        for number, choice in enumerate(step.choices, 1):
            assert f"\n{number}. {choice.label}\n" in asked.text, step.key
        assert asked.text.endswith(TEXTS.get("flow.list_hint"))


@pytest.mark.parametrize(
    ("typed", "step", "value"),
    [("電話はしないでください", "contact_method", None), ("メールはやめてください", "contact_method", None),
     ("同意しないです", "privacy", "no"), ("同意します", "privacy", "yes")],
)  # fmt: skip
def test_not_x_is_never_read_as_x(typed: str, step: str, value: str | None) -> None:
    assert picked(typed, step) == value


def test_do_not_send_at_the_summary_does_not_send() -> None:
    engine = Engine(FLOW, TEXTS)
    state = State("_summary", answers={"privacy": "yes", "category": "npo"}, history=("privacy",))
    result = engine.handle(state, Inbound("text", text="まだ送信しないでください"))
    assert result.outcome == "continue" and result.state == state


@pytest.mark.parametrize(
    ("typed", "step"),
    [("電話でお願いします。平日の昼間でしたら何時でも出られますのでよろしくお願いします", "contact_method"),
     ("NPO法人を立ち上げたいのですが、定款の作り方から相談できますか？", "requester_type")],
)  # fmt: skip
def test_a_long_text_names_nothing_by_a_part(typed: str, step: str) -> None:
    """Longer than MAX_TYPED, text is a message or a question, never an answer by a part of it."""
    assert matching.is_message(typed)
    assert matching.match(typed, options(step)) == matching.Match()
    assert picked(typed[:12], step) is not None  # the same words, short: an answer


def test_a_long_label_typed_whole_still_names_its_option() -> None:
    label = "市民活動と地域のつながりを考える冬の交流会 〜はじめての方も歓迎〜 ミズベサロン"
    choices = [Choice(label, "long"), Choice("一覧に戻る", "back")]
    assert matching.is_message(label)
    assert matching.match(label, choices).choice == choices[0]
    assert matching.match(f"{label}。", choices).choice == choices[0]
