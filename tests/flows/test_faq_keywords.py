"""faq.toml keywords: one that folds to nothing (only spaces or punctuation: ？, ・, a full-width space)
would be inside every message and answer every short greeting, so it is refused when the file is read,
naming the entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.runtime import Runtime
from flows.contact import Contact
from flows.faq import Faq, default_faq
from flows.texts import Texts
from tests.harness import settings_for


@pytest.mark.parametrize("keyword", ["？", "・", "　", " ", "「」", "!?"])
def test_a_keyword_of_only_spaces_or_punctuation_is_refused_naming_the_entry(
    tmp_path: Path, keyword: str
) -> None:
    path = tmp_path / "faq.toml"
    entries = [
        {"keywords": ["駐車場"], "answer": "駐車場はありません。"},
        {"keywords": ["開館時間", keyword], "answer": "開館時間は{hours}です。"},
    ]
    lines = []
    for entry in entries:
        keywords = ", ".join(f'"{k}"' for k in entry["keywords"])
        lines.append(f'[[answers]]\nkeywords = [{keywords}]\nanswer = "{entry["answer"]}"\n')
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(ValueError) as caught:
        Faq.load(path)
    assert str(caught.value) == f"{path}: answers[2]: keyword {keyword!r} is only spaces or punctuation"


def test_keywords_with_punctuation_around_a_word_still_match() -> None:
    faq = Faq.parse({"answers": [{"keywords": ["・開館時間？"], "answer": "{hours}です。"}]}, "faq.toml")
    contact = Contact(hours="9時〜17時")
    assert faq.answer("開館時間を教えてください", contact, Texts.load()) == "9時〜17時です。"
    assert faq.answer("こんにちは", contact, Texts.load()) is None


async def test_the_keyword_answers_are_read_and_checked_when_the_bot_starts(tmp_path: Path) -> None:
    """Before the first message: a broken faq.toml must stop the start, not fail every message."""
    default_faq.cache_clear()
    async with Runtime(settings_for(tmp_path, "http://127.0.0.1:9")):
        assert default_faq.cache_info().currsize == 1
