"""Input checks of the flows (flows.validators): ふりがな and the folding used to compare typed answers."""

from __future__ import annotations

import pytest

from flows.validators import Invalid, digits, fold, free_text, has_kanji, kana, row_id, to_hiragana


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("やまだ はなこ", "やまだ はなこ"),
        ("ヤマダ ハナコ", "やまだ はなこ"),  # katakana: stored as hiragana
        ("ﾔﾏﾀﾞ ﾊﾅｺ", "やまだ はなこ"),  # half-width katakana, with its voiced mark
        ("やまだ　はなこ", "やまだ はなこ"),  # a full-width space
        ("  やまだ   はなこ ", "やまだ はなこ"),
        ("サトー", "さとー"),  # the long vowel mark
        ("ヴィクトリア・ジョーンズ", "ゔぃくとりあ・じょーんず"),
        ("ささき", "ささき"),
    ],
)
def test_furigana_in_any_kana_is_stored_as_hiragana(typed: str, stored: str) -> None:
    assert kana(typed, 60) == stored


@pytest.mark.parametrize(
    "typed", ["山田 花子", "yamada", "やまだ1", "やまだ（はなこ）", "やまだ、はなこ", "😀"]
)
def test_furigana_that_is_not_kana_is_refused(typed: str) -> None:
    with pytest.raises(Invalid) as refused:
        kana(typed, 60)
    assert refused.value.key == "invalid.kana"


def test_furigana_empty_or_too_long() -> None:
    with pytest.raises(Invalid) as empty:
        kana("　", 60)
    assert empty.value.key == "invalid.empty"
    with pytest.raises(Invalid) as long:
        kana("あ" * 61, 60)
    assert (long.value.key, long.value.values) == ("invalid.too_long", {"length": 61})


def test_too_long_text_says_its_length() -> None:
    with pytest.raises(Invalid) as long:
        free_text("あ" * 51, 50)
    assert long.value.values == {"length": 51}


@pytest.mark.parametrize(
    ("typed", "folded"),
    [("ＮＰＯ法人", "npo法人"), ("メール", "めーる"), ("ﾒｰﾙ", "めーる"), ("自治会・町内会", "自治会町内会"),
     (" TEL ", "tel"), ("電話。", "電話"), ("１番", "1番"), ("LINE で", "lineで")],
)  # fmt: skip
def test_fold(typed: str, folded: str) -> None:
    assert fold(typed) == folded


def test_has_kanji() -> None:
    assert (
        has_kanji("山田 花子") and has_kanji("佐々木") and not has_kanji("やまだ") and not has_kanji("John")
    )


def test_katakana_become_hiragana_and_nothing_else_changes_for_any_character() -> None:
    """to_hiragana (a translation table, skipped when there is no katakana) against the character-wise
    rule it replaced, over every code point, lone surrogates included."""

    def rule(c: str) -> str:
        return chr(ord(c) - 0x60) if "ァ" <= c <= "ヶ" else c

    every = "".join(map(chr, range(0x110000)))
    assert to_hiragana(every) == "".join(map(rule, every))
    # One character at a time too: a text that is only that character must pass the "has katakana"
    # check (a narrower check than the table, [ア-ン], would leave ヴ and ァ as they are).
    for c in map(chr, range(0x3000, 0x3100)):
        assert to_hiragana(c) == rule(c), hex(ord(c))
    assert to_hiragana("ヴァイオリン・ケース ヵヶ ァ") == "ゔぁいおりん・けーす ゕゖ ぁ"
    assert to_hiragana("ゔ ヷ ー ｱ") == "ゔ ヷ ー ｱ"  # outside ァ-ヶ: unchanged


@pytest.mark.parametrize(
    ("text", "number"),
    [("0", 0), ("12", 12), ("9" * 18, int("9" * 18)), ("9" * 19, None), ("9" * 4400, None), ("", None),
     ("-1", None), ("1.5", None), ("１２", None), ("፩", None), (" 1", None)],
)  # fmt: skip
def test_digits_read_ascii_numbers_of_at_most_18_digits(text: str, number: int | None) -> None:
    """Typed and posted-back numbers are hostile: int() refuses more than 4,300 digits (LINE allows
    5,000 characters), SQLite holds 18 full digits. Anything else is no number, never an exception."""
    assert digits(text) == number
    assert row_id(text) == (number or 0)
