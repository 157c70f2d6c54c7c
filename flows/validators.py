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


class Invalid(ValueError):
    """The answer does not fit; `key` names the re-ask text in the wording file."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


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
        raise Invalid("invalid.too_long")
    return cleaned
