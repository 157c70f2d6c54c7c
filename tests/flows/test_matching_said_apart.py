"""Review 44 D4: a longer option named in pieces (パソコン講座の上級, with パソコン講座 and パソコン講座（上級）
listed) is not taken for the shorter one it holds: ambiguous, the list again. Naming either whole, or
the longer one in one piece, still names it."""

from __future__ import annotations

import pytest

from flows import matching
from flows.messages import Choice

TITLES = (Choice("パソコン講座", "1"), Choice("パソコン講座（上級）", "2"), Choice("子育てサロン", "3"))


@pytest.mark.parametrize(
    "typed", ["パソコン講座の上級", "上級のパソコン講座", "パソコン講座の上級をお願いします"]
)
def test_the_longer_title_in_pieces_is_ambiguous_not_the_shorter(typed: str) -> None:
    found = matching.match(typed, TITLES)
    assert found.ambiguous and {c.value for c in found.candidates} == {"1", "2"}, found


@pytest.mark.parametrize(
    ("typed", "value"),
    [("パソコン講座", "1"), ("パソコン講座です", "1"), ("パソコン講座（上級）", "2"), ("パソコン講座上級編", "2"), ("パソコン講座、上級です", "2"),
     ("上級", "2"), ("パソコン講座の子育てサロン", None)],
)  # fmt: skip
def test_a_title_said_whole_or_in_one_piece_is_named(typed: str, value: str | None) -> None:
    found = matching.match(typed, TITLES)
    assert (None if found.choice is None else found.choice.value) == value, found
