"""Lists of choices longer than one message can offer, a page at a time.

A message offers at most `MAX_CHOICES` choices (LINE's 13 quick replies). A question with more
options shows them in pages: each page has some options, 「前へ」/「次へ」 where there is a page
before or after, and the question's own controls (戻る, キャンセル, ...) on every page. The page a
citizen is on is part of the stored conversation state; a page button carries the page's number
(`flow:page:<n>`), so tapping an old button twice lands on the same page.

Quick replies vanish once the citizen types, and LINE for PC shows none: a paged question also
lists every option, numbered, in its text, and accepts the number, the label or the value typed,
whatever page is shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from flows import matching
from flows.messages import MAX_CHOICES, Choice
from flows.texts import Texts
from flows.validators import digits

PAGE_PREFIX = "flow:page:"
NEXT_WORDS = frozenset({"次へ", "次", "つぎ", "次のページ", "next"})
PREV_WORDS = frozenset({"前へ", "前", "まえ", "前のページ", "prev"})


def page_slices(count: int, room: int) -> list[tuple[int, int]]:
    """(start, end) of each page of `count` options, when a message has `room` places for options
    and page buttons: the first page gives one to 次へ, later pages one to 前へ and, but for the last,
    one to 次へ. One page when everything fits."""
    if count <= room:
        return [(0, count)]
    if room < 3:
        raise ValueError(f"no room to page {count} options: {room} places")
    slices: list[tuple[int, int]] = []
    start = 0
    while True:
        before = 1 if slices else 0
        if count - start <= room - before:
            slices.append((start, count))
            return slices
        size = room - before - 1
        slices.append((start, start + size))
        start += size


@dataclass(frozen=True)
class Paged:
    """One page of a question's options, with the page buttons and the question's controls."""

    options: tuple[Choice, ...]
    controls: tuple[Choice, ...]
    page: int
    pages: int
    choices: tuple[Choice, ...]

    @property
    def paged(self) -> bool:
        return self.pages > 1


def paginate(options: Sequence[Choice], controls: Sequence[Choice], page: int, texts: Texts) -> Paged:
    """The choices to offer on `page` (clamped to the pages there are)."""
    slices = page_slices(len(options), MAX_CHOICES - len(controls))
    page = max(0, min(page, len(slices) - 1))
    start, end = slices[page]
    shown: list[Choice] = []
    if page > 0:
        shown.append(Choice(texts.get("flow.prev_page"), f"{PAGE_PREFIX}{page - 1}"))
    shown += options[start:end]
    if page < len(slices) - 1:
        shown.append(Choice(texts.get("flow.next_page"), f"{PAGE_PREFIX}{page + 1}"))
    shown += controls
    return Paged(tuple(options), tuple(controls), page, len(slices), tuple(shown))


def listing(options: Sequence[Choice], texts: Texts) -> str:
    """Every option, numbered, and how to answer by typing: for the text of a paged question."""
    lines = [texts.get("flow.list_item", number=n, label=c.label) for n, c in enumerate(options, 1)]
    return "\n".join([*lines, texts.get("flow.list_hint")])


def turn(word: str, paged: Paged) -> int | None:
    """The page a tapped or typed word asks for, or None when it does not ask for one."""
    if word.startswith(PAGE_PREFIX):
        page = digits(word[len(PAGE_PREFIX) :])
        return None if page is None else max(0, min(page, paged.pages - 1))
    if matching.says(word, NEXT_WORDS) and paged.page + 1 < paged.pages:
        return paged.page + 1
    if matching.says(word, PREV_WORDS) and paged.page > 0:
        return paged.page - 1
    return None
