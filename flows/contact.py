"""The center's contact details as citizens read them (ヘルプ, the fallback, the out-of-hours notice,
keyword answers). Details left empty in the configuration are left out, never shown blank."""

from __future__ import annotations

from dataclasses import dataclass

from flows.texts import Texts

DETAILS = ("phone", "address", "hours", "website")


@dataclass(frozen=True)
class Contact:
    center: str = ""
    phone: str = ""
    address: str = ""
    hours: str = ""
    website: str = ""

    def values(self) -> dict[str, str]:
        return {"center": self.center, **{name: str(getattr(self, name)) for name in DETAILS}}

    def block(self, texts: Texts, only: tuple[str, ...] = DETAILS) -> str:
        """One line per configured detail (電話：045-…), in a fixed order; "" when none is set."""
        return "\n".join(
            texts.get(f"contact.{name}", **{name: getattr(self, name)})
            for name in DETAILS
            if name in only and getattr(self, name)
        )

    def with_block(self, text: str, texts: Texts, only: tuple[str, ...] = DETAILS) -> str:
        """`text` followed by the contact lines (after a blank line), or `text` alone when there are none."""
        block = self.block(texts, only)
        return f"{text}\n\n{block}" if block else text
