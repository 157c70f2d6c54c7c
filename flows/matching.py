"""Which option a typed answer names.

Quick replies vanish once the citizen types and LINE for PC/Mac shows none, so every option can be
typed: its number in the list (1, １, 1番), its label, its value, a variant declared next to it
(`Choice.words`: でんわ, TEL, mail), or a natural part of any of these (NPO for NPO法人・市民活動団体,
電話でお願いします for 電話で). Text is compared folded (`validators.fold`: NFKC, case folded,
katakana as hiragana, no spaces or separators), so full- and half-width, upper and lower case,
メール and めーる are the same.

In this order, the first that names exactly one option wins: the number, a whole label, value or
variant, then a part. A part that names several options is ambiguous: the question is asked again
with the options, never guessed, unless one option's name in the text holds all the others' found
there (the longest wins: やや満足です names やや満足, though 満足 is in it too), and never the shorter
when the text also holds what a longer option adds to it (パソコン講座の上級, with パソコン講座 and
パソコン講座（上級）: ambiguous). A text with a negation
(しない, ません, やめ) names nothing by a part, unless the option's own words say no as well. A text
longer than `MAX_TYPED` names nothing by a part: it is a message (for staff, or a question:
「申し込む前に確認したいのですが…」), never an answer, which is a choice said in a few words.

Control words (キャンセル, ストップ, 戻る...) are recognised by `says`: the whole message, folded and
without a polite ending (キャンセルします, ストップ。, やめます！), never a part of it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from flows.messages import Choice
from flows.validators import fold

_NUMBER = re.compile(r"(?:no\.?)?(\d{1,3})(?:番|ばん)?(?:です|でお願いします|をお願いします)?\.?")
# A part shorter than this is too likely to occur by chance (い in はい and いいえ).
_MIN_PART = 2
# A text that says no (送信しないで, 電話はやめて) names no option by a part, unless the part says no too
# (同意しないです names 同意しない): "not X" must never be read as X.
_NEGATIONS = ("ない", "ません", "やめ", "だめ", "いや")
# The longest text (folded) that may answer by a part of it: a choice (labels are short) said in a
# few words. Longer text is a message for staff or a question, never taken for an answer.
MAX_TYPED = 30
# Said after a control word (キャンセルします, ストップでお願いします, 戻ってください is not one: only
# what follows the word itself), folded; taken off one after another (キャンセルしたいです).
_POLITE_ENDINGS = (
    "でお願いします", "でおねがいします", "をお願いします", "をおねがいします", "お願いします", "おねがいします",
    "してください", "して下さい", "ください", "下さい", "します", "したい", "して", "です",
)  # fmt: skip


@dataclass(frozen=True)
class Match:
    """The option named, or (when ambiguous) the options a part fits; both empty: none fits."""

    choice: Choice | None = None
    candidates: tuple[Choice, ...] = ()

    @property
    def ambiguous(self) -> bool:
        return self.choice is None and len(self.candidates) > 1


def number(text: str, count: int) -> int | None:
    """The 1-based position a typed number names (1, １, 1番, １番です), when it is in the list."""
    found = _NUMBER.fullmatch(fold(text))
    if found is None:
        return None
    position = int(found.group(1))
    return position if 1 <= position <= count else None


def says(text: str, words: frozenset[str]) -> bool:
    """Whether the whole text is one of the control `words` (キャンセル, ストップ, 戻る), as citizens
    type them: folded (ｷｬﾝｾﾙ, ＳＴＯＰ, 「キャンセル。」) and with polite endings taken off
    (キャンセルします, キャンセルでお願いします, ストップです). Only the whole message: a name or a message
    that holds the word (キャンセル待ちの件) is never a control."""
    key = fold(text)
    known = _folded(words)
    while key:
        if key in known:
            return True
        ending = next((e for e in _POLITE_ENDINGS if key.endswith(e) and len(key) > len(e)), None)
        if ending is None:
            return False
        key = key[: -len(ending)]
    return False


@cache
def _folded(words: frozenset[str]) -> frozenset[str]:
    return frozenset(fold(w) for w in words)


def _names(choice: Choice) -> list[str]:
    """The label and the declared variants, folded: what a part of an answer is looked for in."""
    return [n for n in (fold(choice.label), *(fold(w) for w in choice.words)) if n]


def is_message(text: str) -> bool:
    """Whether typed text is too long to answer a question by a part of it (see `MAX_TYPED`)."""
    return len(fold(text)) > MAX_TYPED


def match(text: str, options: Sequence[Choice]) -> Match:
    key = fold(text)
    if not key:
        return Match()
    position = number(text, len(options))
    if position is not None:
        return Match(options[position - 1])
    whole = [c for c in options if key == fold(c.value) or key in _names(c)]
    if whole:
        return Match(whole[0])
    if len(key) > MAX_TYPED:
        return Match()
    negations = [n for n in _NEGATIONS if n in key]
    parts = tuple(c for c in options if any(_part(key, name, negations) for name in _names(c)))
    if len(parts) == 1:
        longer = _said_apart(key, parts[0], options)
        return Match(candidates=(parts[0], *longer)) if longer else Match(parts[0])
    widest = [c for c in parts if _covers(key, c, parts, negations)]
    if len(widest) == 1:
        return Match(widest[0])
    return Match(candidates=parts)


def _part(key: str, name: str, negations: Sequence[str]) -> bool:
    """Whether the text is a part of the name or the name a part of the text, and the name says no
    when the text does."""
    fits = (len(key) >= _MIN_PART and key in name) or (len(name) >= _MIN_PART and name in key)
    return fits and all(n in name for n in negations)


def _said_apart(key: str, choice: Choice, options: Sequence[Choice]) -> tuple[Choice, ...]:
    """Other options whose name holds a name of `choice` found in the text, with what they add to it
    found in the text too (パソコン講座の上級: パソコン講座（上級）adds 上級): named in pieces, so the
    shorter is not guessed either."""
    found = [n for n in _names(choice) if n in key]
    return tuple(
        other
        for other in options
        if other is not choice
        and any(
            mine in name
            and len(extra := name.replace(mine, "", 1)) >= _MIN_PART
            and extra in key.replace(mine, "", 1)
            for name in _names(other)
            for mine in found
        )
    )


def _covers(key: str, choice: Choice, parts: Sequence[Choice], negations: Sequence[str]) -> bool:
    """Whether a name of `choice` in the text holds every other option's name found there (やや満足です:
    やや満足 holds 満足): each is a part of it and, with it taken out of the text, found no more
    (満足でやや満足 stays ambiguous). An option named because the text is a part of its name (協働 in two
    labels) is never held."""
    for name in _names(choice):
        if name not in key or not _part(key, name, negations):
            continue
        rest = key.replace(name, "\0")
        if not any(
            _part(key, other, negations) and (other not in name or other in rest)
            for c in parts
            if c is not choice
            for other in _names(c)
        ):
            return True
    return False
