"""Long lists of choices: every page fits LINE's 13 quick replies, and every option can be reached
by paging and by typing its number or label on any page. The real intake flow and wording."""

from __future__ import annotations

import pytest

from flows import intake, matching, paging
from flows import state as state_io
from flows.engine import Engine, Result, State
from flows.messages import MAX_CHOICES, Choice, Inbound, Text
from flows.paging import page_slices
from flows.texts import Texts

TEXTS = Texts.load()
NEXT, PREV = TEXTS.get("flow.next_page"), TEXTS.get("flow.prev_page")


def categories(count: int) -> tuple[tuple[str, str], ...]:
    return tuple((f"cat{n}", f"相談の種類{n}") for n in range(1, count + 1))


def at_category(engine: Engine) -> State:
    started = engine.start().state
    assert started is not None
    result = engine.handle(started, Inbound("choice", value="yes"))
    assert result.state is not None and result.state.step == "category"
    return result.state


def question(result: Result) -> Text:
    last = result.messages[-1]
    assert isinstance(last, Text)
    return last


def labels(result: Result) -> list[str]:
    return [c.label for c in question(result).choices]


@pytest.mark.parametrize(
    ("count", "room", "expected"),
    [
        (11, 11, [(0, 11)]),
        (12, 11, [(0, 10), (10, 12)]),
        (20, 11, [(0, 10), (10, 20)]),
        (21, 11, [(0, 10), (10, 19), (19, 21)]),
        (14, 12, [(0, 11), (11, 14)]),
    ],
)
def test_pages_leave_room_for_the_page_buttons(
    count: int, room: int, expected: list[tuple[int, int]]
) -> None:
    assert page_slices(count, room) == expected


def test_the_most_categories_check_config_allows_fit_in_two_pages() -> None:
    engine = intake.engine(categories(intake.MAX_CATEGORIES), TEXTS)
    first = question(engine.handle(at_category(engine), Inbound("text", text="次へ")))
    assert first.choices[0].label == PREV and NEXT not in [c.label for c in first.choices]
    assert len(first.choices) <= MAX_CHOICES


@pytest.mark.parametrize("count", [12, 14, 20])
def test_a_long_category_list_is_paged_and_every_page_fits(count: int) -> None:
    engine = intake.engine(categories(count), TEXTS)
    state = at_category(engine)
    seen: list[str] = []
    result = Result(state, engine.prompt(state))
    while True:
        shown = labels(result)
        assert len(shown) <= MAX_CHOICES
        assert shown[-2:] == [TEXTS.get("flow.back"), TEXTS.get("flow.cancel")]  # controls on every page
        seen += [label for label in shown if label.startswith("相談の種類")]
        # Every option is listed, numbered, in the text of every page (LINE for PC shows no buttons).
        assert all(f"{n}. 相談の種類{n}" in question(result).text for n in range(1, count + 1))
        if NEXT not in shown:
            break
        assert result.state is not None
        next_value = next(c.value for c in question(result).choices if c.label == NEXT)
        result = engine.handle(result.state, Inbound("choice", value=next_value))
    assert seen == [f"相談の種類{n}" for n in range(1, count + 1)]
    # The last one, chosen from the last page.
    assert result.state is not None and result.state.page == 1
    chosen = engine.handle(result.state, Inbound("choice", value=f"cat{count}"))
    assert chosen.state is not None and chosen.state.answers["category"] == f"cat{count}"
    assert chosen.state.step == "requester_type" and chosen.state.page == 0


@pytest.mark.parametrize("typed", ["14", "１４", "相談の種類14", "cat14"])
def test_any_option_can_be_typed_on_the_first_page(typed: str) -> None:
    engine = intake.engine(categories(14), TEXTS)
    result = engine.handle(at_category(engine), Inbound("text", text=typed))
    assert result.state is not None and result.state.answers["category"] == "cat14"


def test_typed_page_words_turn_pages_and_back_from_the_first_page_goes_back() -> None:
    engine = intake.engine(categories(14), TEXTS)
    state = at_category(engine)
    second = engine.handle(state, Inbound("text", text="次へ"))
    assert second.state is not None and second.state.page == 1 and labels(second)[0] == PREV
    # The page survives a restart: it is part of the stored state.
    restored = state_io.load(State, state_io.dump(second.state), second.state.step)
    assert restored.page == 1 and engine.prompt(restored) == second.messages
    first = engine.handle(restored, Inbound("text", text="前へ"))
    assert first.state is not None and (first.state.step, first.state.page) == ("category", 0)
    back = engine.handle(first.state, Inbound("text", text="前へ"))  # no page before: back one step
    assert back.state is not None and back.state.step == "privacy"


def test_an_unknown_answer_re_asks_the_same_page() -> None:
    engine = intake.engine(categories(14), TEXTS)
    second = engine.handle(at_category(engine), Inbound("text", text="次へ"))
    assert second.state is not None
    wrong = engine.handle(second.state, Inbound("text", text="99"))
    assert wrong.state == second.state and wrong.messages[-1] == second.messages[-1]


def test_an_old_page_button_of_another_question_just_asks_again() -> None:
    engine = intake.engine(categories(14), TEXTS)
    chosen = engine.handle(at_category(engine), Inbound("text", text="1"))
    assert chosen.state is not None and chosen.state.step == "requester_type"
    stale = engine.handle(chosen.state, Inbound("choice", value="flow:page:1"))
    assert stale.state == chosen.state and stale.messages == engine.prompt(chosen.state)


def test_a_short_list_is_not_paged_but_still_numbered_and_answerable_by_number() -> None:
    engine = intake.engine(categories(6), TEXTS)
    state = at_category(engine)
    [asked] = engine.prompt(state)
    assert isinstance(asked, Text) and asked.text.startswith(
        TEXTS.get("intake.category.prompt") + "\n1. 相談の種類1"
    )
    assert NEXT not in [c.label for c in asked.choices]
    chosen = engine.handle(state, Inbound("text", text="6"))
    assert chosen.state is not None and chosen.state.answers["category"] == "cat6"


def test_digits_that_int_refuses_are_no_answer() -> None:
    """NFKC leaves characters that pass str.isdigit() but that int() refuses (Ethiopic ፩): typed at a
    paged question they must be no answer, not an exception that costs the citizen their reply."""
    options = [Choice(f"{n}", f"v{n}") for n in range(1, 16)]
    paged = paging.paginate(options, [], 0, Texts.load())
    assert matching.match("፩", options).choice is None
    assert paging.turn("flow:page:፩", paged) is None
    assert matching.match("3", options).choice == options[2]


def test_more_digits_than_int_reads_are_no_answer_and_no_page() -> None:
    """LINE allows 5,000 characters, int() refuses more than 4,300 digits: such a number typed at a
    paged question, or in a page button's value, names no option and no page (asked again)."""
    options = [Choice(f"{n}", f"v{n}") for n in range(1, 16)]
    paged = paging.paginate(options, [], 0, TEXTS)
    huge = "9" * 4400
    assert matching.match(huge, options).choice is None
    assert paging.turn(f"flow:page:{huge}", paged) is None
    assert paging.turn(f"flow:page:{'9' * 18}", paged) == paged.pages - 1  # a big page: the last
    engine = intake.engine(categories(14), TEXTS)
    state = at_category(engine)
    for typed in (huge, f"flow:page:{huge}"):
        again = engine.handle(state, Inbound("text", text=typed))
        assert again.state == state and again.messages[-1] == engine.prompt(state)[-1]
