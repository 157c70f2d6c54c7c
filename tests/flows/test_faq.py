"""Keyword answers (flows.faq): the contact details are filled in only once a keyword matched, with
the same answers as filling them in for every message."""

from __future__ import annotations

import itertools
import random
import unicodedata

from flows.contact import Contact
from flows.faq import _DROP, Faq, default_faq, fold
from flows.texts import Texts

TEXTS = Texts.load()
_KATAKANA = {code: code - 0x60 for code in range(ord("ァ"), ord("ヶ") + 1)}


def eager(faq: Faq, message: str, contact: Contact, texts: Texts) -> str | None:
    """Faq.answer as it was: the values made before looking at the entries."""
    if len(message) > 40:
        return None
    folded = _DROP.sub("", unicodedata.normalize("NFKC", message).casefold()).translate(_KATAKANA)
    if not folded:
        return None
    values = {**contact.values(), "contact": contact.block(texts)}
    for entry in faq.entries:
        if any(k in folded for k in entry.keywords) and all(values.get(n) for n in entry.needs):
            return entry.answer.format(**values)
    return None


def contacts() -> list[Contact]:
    details = {
        "center": ["", "市民協働推進センター"],
        "phone": ["", "045-123-4567"],
        "address": ["", "横浜市中区本町6-50-10"],
        "hours": ["", "平日 9:00〜17:00"],
        "website": ["", "https://example.jp"],
    }
    return [
        Contact(**dict(zip(details, values, strict=True))) for values in itertools.product(*details.values())
    ]


def messages() -> list[str]:
    rng = random.Random(14)
    keywords = [k for entry in default_faq().entries for k in entry.keywords]
    words = [
        *keywords,
        "ｶﾞｲﾄﾞ",
        "デンワ",
        "ＴＥＬ",
        "Tel",
        "駐 車 場",
        "場所は？",
        "こんにちは",
        "相談したい",
        "",
        " ",
    ]
    made = ["".join(rng.choice(words) for _ in range(rng.randint(1, 4))) for _ in range(300)]
    return [*words, *made, "電話" * 21, "開館時間" + "あ" * 36, "開館時間" + "あ" * 37]


def test_the_same_answer_as_filling_in_the_contact_for_every_message() -> None:
    faq = default_faq()
    answered = 0
    for contact in contacts():
        for message in messages():
            got = faq.answer(message, contact, TEXTS)
            assert got == eager(faq, message, contact, TEXTS), (message, contact)
            answered += got is not None
    assert answered > 1000


def test_fold_is_the_table_it_had() -> None:
    rng = random.Random(15)
    for _ in range(2000):
        text = "".join(
            chr(
                rng.choice(
                    [rng.randrange(0x3000, 0x3100), rng.randrange(0xFF00, 0xFFF0), rng.randrange(0x80)]
                )
            )
            for _ in range(20)
        )
        assert fold(text) == _DROP.sub("", unicodedata.normalize("NFKC", text).casefold()).translate(
            _KATAKANA
        )
