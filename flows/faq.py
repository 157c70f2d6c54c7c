"""Keyword answers (開館時間, 場所, アクセス, 駐車場, 電話番号 …) from a text file the center edits.

flows/texts/faq.toml lists `[[answers]]`, each with `keywords` and an `answer` that may use the
contact placeholders {center} {phone} {address} {hours} {website} {contact}. A short message outside a
consultation is folded (NFKC, case, katakana as hiragana, spaces dropped) and answered by the first entry
one of whose keywords it contains. An answer that needs a detail the configuration leaves empty is
skipped: the citizen then gets the fallback, with what the account can do, rather than a blank.
"""

from __future__ import annotations

import functools
import re
import string
import tomllib
import unicodedata
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from flows.contact import Contact
from flows.texts import Texts
from flows.validators import to_hiragana

# Longer messages are questions or consultations for a person, not a keyword.
MAX_MESSAGE = 40
PLACEHOLDERS = frozenset({"center", "phone", "address", "hours", "website", "contact"})
_DROP = re.compile(r"[\s・･、。,.!！?？「」（）()]+")


def fold(text: str) -> str:
    """For matching only: NFKC (full- and half-width alike), case folded, katakana as hiragana, without
    spaces and punctuation."""
    return to_hiragana(_DROP.sub("", unicodedata.normalize("NFKC", text).casefold()))


@dataclass(frozen=True)
class Entry:
    keywords: tuple[str, ...]  # folded
    answer: str
    needs: frozenset[str]


@dataclass(frozen=True)
class Faq:
    entries: tuple[Entry, ...] = ()

    @classmethod
    def parse(cls, data: dict[str, Any], source: str) -> Faq:
        entries: list[Entry] = []
        for index, item in enumerate(data.get("answers", []), start=1):
            where = f"{source}: answers[{index}]"
            keywords = item.get("keywords") if isinstance(item, dict) else None
            answer = item.get("answer") if isinstance(item, dict) else None
            if (
                not isinstance(keywords, list)
                or not keywords
                or not all(isinstance(k, str) and k for k in keywords)
            ):
                raise ValueError(f"{where}: keywords must be a list of words")
            folded = tuple(fold(k) for k in keywords)
            for keyword, as_matched in zip(keywords, folded, strict=True):
                # Matching drops spaces and punctuation; what is left of this one is "", inside every message.
                if not as_matched:
                    raise ValueError(f"{where}: keyword {keyword!r} is only spaces or punctuation")
            if not isinstance(answer, str) or not answer.strip():
                raise ValueError(f"{where}: answer must be a text")
            needs = frozenset(name for _, name, _, _ in string.Formatter().parse(answer) if name is not None)
            unknown = needs - PLACEHOLDERS
            if unknown:
                raise ValueError(f"{where}: unknown placeholder {{{sorted(unknown)[0]}}}")
            entries.append(Entry(folded, answer, needs))
        return cls(tuple(entries))

    @classmethod
    def load(cls, path: Path | None = None) -> Faq:
        if path is None:
            text = resources.files("flows").joinpath("texts", "faq.toml").read_text(encoding="utf-8")
            return cls.parse(tomllib.loads(text), "flows/texts/faq.toml")
        return cls.parse(tomllib.loads(path.read_text(encoding="utf-8")), str(path))

    def answer(self, message: str, contact: Contact, texts: Texts) -> str | None:
        """The keyword answer to a short message, or None."""
        if len(message) > MAX_MESSAGE:
            return None
        folded = fold(message)
        if not folded:
            return None
        # The contact details are filled in only once a keyword matched: most messages match none.
        values: dict[str, str] | None = None
        for entry in self.entries:
            if any(k in folded for k in entry.keywords):
                if values is None:
                    values = {**contact.values(), "contact": contact.block(texts)}
                if all(values.get(n) for n in entry.needs):
                    return entry.answer.format(**values)
        return None


@functools.cache
def default_faq() -> Faq:
    """flows/texts/faq.toml, read once."""
    return Faq.load()
