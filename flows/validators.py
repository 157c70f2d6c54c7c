"""Input checks for flow steps. Each returns the cleaned value or raises Invalid with a text key.

Citizens type on phones with Japanese input methods, so full-width digits, hyphens and @ are
normalised (NFKC) before checking.
"""

from __future__ import annotations

import re
import unicodedata

_PHONE = re.compile(r"^0\d{9,10}$")
_EMAIL = re.compile(r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)+$")
_DASHES = "‐‑‒–—―−ー－"
# Ignored when matching a typed answer to an option: spaces, separators and brackets (自治会・町内会
# typed as 自治会町内会), and punctuation at the end (「電話。」).
_FOLD_DROP = re.compile(r"[\s・･/／,、()（）「」『』【】\[\]]+")
_FOLD_TRAIL = ".。!！?？~〜"
# Kana for ふりがな: hiragana (after katakana is turned into hiragana), the long vowel mark, the
# iteration marks, a middle dot (foreign names) and single spaces between the parts of a name.
_KANA = re.compile(r"[ぁ-ゖゝゞー・]+(?: [ぁ-ゖゝゞー・]+)*")
# ァ (U+30A1) to ヶ (U+30F6), each 0x60 above its hiragana (ヵ ヶ become ゕ ゖ).
_KATAKANA = re.compile("[ァ-ヶ]")
_TO_HIRAGANA = {code: code - 0x60 for code in range(ord("ァ"), ord("ヶ") + 1)}
# The most digits of a number read from text: every id and page fits, and a 64-bit integer does.
_MAX_DIGITS = 18


class Invalid(ValueError):
    """The answer does not fit; `key` names the re-ask text in the wording file."""

    def __init__(self, key: str, **values: int) -> None:
        super().__init__(key)
        self.key = key
        # Filled into the re-ask text (the length typed, for "too long").
        self.values = values


def digits(text: str) -> int | None:
    """The number a text of ASCII digits writes (a page, a position in a list, a row id), or None for
    anything else. Typed and posted-back text is hostile: more than 18 digits is no number any list
    or row has (SQLite's integers hold 18 full digits, and int() refuses more than 4,300)."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= _MAX_DIGITS else None


def row_id(value: object) -> int:
    """A row id (a case's, an event's, a slot's...) from a button's value, a postback or a modal's
    metadata, which come back as hostile input: anything that is not one (also a number SQLite cannot
    hold) names no row (0)."""
    return digits(str(value or "")) or 0


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def fold(text: str) -> str:
    """A typed answer as it is compared with options: NFKC (full-width letters and digits,
    half-width kana), case folded, katakana as hiragana (メール = めーる), without spaces and
    separators. Only for comparing; what is stored is what the citizen typed or the option's value."""
    folded = _FOLD_DROP.sub("", unicodedata.normalize("NFKC", text).casefold())
    return to_hiragana(folded).strip(_FOLD_TRAIL)


def to_hiragana(text: str) -> str:
    """Katakana as hiragana (ヴ as ゔ); everything else unchanged. Half-width katakana must have
    been made full-width (NFKC) first."""
    # Most texts have no katakana: the search is a tenth of translating them.
    return text.translate(_TO_HIRAGANA) if _KATAKANA.search(text) else text


def kana(text: str, max_length: int) -> str:
    """ふりがな: hiragana, katakana (full- or half-width, stored as hiragana), the long vowel mark
    and spaces; spaces of any width become one half-width space between parts."""
    cleaned = " ".join(to_hiragana(unicodedata.normalize("NFKC", text)).split())
    if not cleaned:
        raise Invalid("invalid.empty")
    if len(cleaned) > max_length:
        raise Invalid("invalid.too_long", length=len(cleaned))
    if not _KANA.fullmatch(cleaned):
        raise Invalid("invalid.kana")
    return cleaned


def is_kana(text: str) -> bool:
    """Whether a name is written in kana only (then it is its own ふりがな)."""
    try:
        kana(text, len(text) + 1)
    except Invalid:
        return False
    return True


def has_kanji(text: str) -> bool:
    """Whether the text has a CJK ideograph: a name staff may not know how to read."""
    return any("\u3400" <= c <= "\u9fff" or "\uf900" <= c <= "\ufaff" or c == "々" for c in text)


def phone(text: str) -> str:
    """A Japanese phone number: 10 or 11 digits starting with 0, hyphens and spaces allowed."""
    cleaned = normalise(text)
    for dash in _DASHES:
        cleaned = cleaned.replace(dash, "-")
    if not re.fullmatch(r"[\d\-\s()]+", cleaned):
        raise Invalid("invalid.phone")
    digits = re.sub(r"\D", "", cleaned)
    if not _PHONE.match(digits):
        raise Invalid("invalid.phone")
    return re.sub(r"\s+", "", cleaned).replace("(", "-").replace(")", "-").strip("-")


def email(text: str) -> str:
    cleaned = normalise(text).replace(" ", "")
    if len(cleaned) > 254 or not _EMAIL.match(cleaned):
        raise Invalid("invalid.email")
    return cleaned


def free_text(text: str, max_length: int) -> str:
    cleaned = text.strip()
    if not cleaned:
        raise Invalid("invalid.empty")
    if len(cleaned) > max_length:
        raise Invalid("invalid.too_long", length=len(cleaned))
    return cleaned
