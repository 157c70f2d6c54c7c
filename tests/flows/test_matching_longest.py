"""Review 42 R1: a typed answer holding two options' names where one holds the other (やや満足です holds
やや満足 and 満足) names the longest; anything else that fits several options stays ambiguous. On the
questionnaire's default choices, an event list's titles and the intake's own options."""

from __future__ import annotations

import pytest

from bot.config import DEFAULT_CATEGORIES, DEFAULT_QUESTIONS
from flows import intake, matching
from flows.messages import Choice
from flows.texts import Texts

SATISFACTION = tuple(Choice(label, str(n)) for n, label in enumerate(DEFAULT_QUESTIONS[0].choices, 1))
AGAIN = tuple(Choice(label, str(n)) for n, label in enumerate(DEFAULT_QUESTIONS[1].choices, 1))
FLOW = intake.intake_flow(tuple((c.id, c.label) for c in DEFAULT_CATEGORIES), Texts.load())


def named(text: str, options: tuple[Choice, ...]) -> str | None:
    found = matching.match(text, options)
    return None if found.choice is None else found.choice.label


@pytest.mark.parametrize(
    ("typed", "label"),
    [("やや満足です", "やや満足"), ("やや不満です", "やや不満"),
     ("やや満足でした。", "やや満足"), ("ヤヤ満足", "やや満足"), ("とてもやや満足です", "やや満足"),
     ("満足です", "満足"), ("不満です", "不満"), ("満足", "満足"), ("やや満足", "やや満足")],
)  # fmt: skip
def test_the_longest_name_in_the_text_wins_on_the_default_question(typed: str, label: str | None) -> None:
    assert named(typed, SATISFACTION) == label


@pytest.mark.parametrize(
    "typed", ["満足でやや満足", "やや満足か満足", "満足と不満", "やや", "やや満足とやや不満"]
)
def test_names_found_apart_stay_ambiguous(typed: str) -> None:
    """満足 outside the やや満足 in the text is a second answer, not a part of the first."""
    found = matching.match(typed, SATISFACTION)
    assert found.choice is None and found.ambiguous, typed


def test_a_name_holding_the_text_is_never_taken_for_the_longest() -> None:
    """The text is a part of one name and holds another: neither holds the other in the text."""
    choices = (Choice("満足", "1"), Choice("とてもやや満足している", "2"))
    found = matching.match("やや満足", choices)
    assert found.choice is None and found.ambiguous


def test_negations_still_name_nothing_but_an_option_that_says_no() -> None:
    assert named("参加しないです", AGAIN) == "参加しない"
    assert named("やや満足ではないです", SATISFACTION) is None


def test_event_titles_one_inside_another() -> None:
    """An events list: a title that holds another (the special edition of a salon) is the one named."""
    titles = (
        Choice("ミズベサロン", "e1"),
        Choice("ミズベサロン夏休み特別編", "e2"),
        Choice("NPO設立講座", "e3"),
    )
    assert named("ミズベサロン夏休み特別編です", titles) == "ミズベサロン夏休み特別編"
    assert named("ミズベサロンです", titles) == "ミズベサロン"
    found = matching.match("ミズベサロンとNPO設立講座", titles)
    assert found.ambiguous


@pytest.mark.parametrize(
    ("typed", "step"), [("協働", "category"), ("相談", "category"), ("LINEで電話", "contact_method"),
                        ("自治会の団体です", "requester_type")],
)  # fmt: skip
def test_the_intakes_ambiguous_answers_stay_ambiguous(typed: str, step: str) -> None:
    found = matching.match(typed, FLOW.step(step).choices)
    assert found.choice is None and found.ambiguous, typed
