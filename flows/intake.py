"""The consultation intake (相談受付), declared as a flow, and what happens on confirm."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from flows.engine import Engine, Flow, Step
from flows.messages import Choice
from flows.texts import Texts
from storage.cases import Case, NewCase
from storage.repositories import Repositories

NAME = "intake"
REQUESTER_TYPES = ("個人", "任意団体", "NPO法人", "企業", "大学", "行政", "その他")
ORGANISATION_MAX = 100
NAME_MAX = 50
# The longest consultation text accepted, over all its messages (documented in docs/intake.md).
BODY_MAX = 2000
PREFERENCE_MAX = 200
# The most consultation categories `check-config` accepts. Any number could be paged, but a citizen
# choosing on a phone should see them all in two pages of LINE quick replies (10 + 次へ, then
# 前へ + 10, each with 戻る and キャンセル); tests/flows/test_paging.py holds this to the paging.
MAX_CATEGORIES = 20


def intake_flow(categories: Sequence[tuple[str, str]], texts: Texts) -> Flow:
    """The steps, with the center's categories (id, label) from configuration."""
    return Flow(
        NAME,
        (
            Step(
                "privacy",
                "yes_no",
                choices=(
                    Choice(texts.get("intake.privacy.agree"), "yes"),
                    Choice(texts.get("intake.privacy.decline"), "no"),
                ),
                gate=True,
                editable=False,
            ),
            Step("category", "choice", choices=tuple(Choice(label, cid) for cid, label in categories)),
            Step("requester_type", "choice", choices=tuple(Choice(t, t) for t in REQUESTER_TYPES)),
            Step(
                "organisation",
                "text",
                when=lambda a: a.get("requester_type") not in (None, "個人"),
                max_length=ORGANISATION_MAX,
            ),
            Step("name", "text", max_length=NAME_MAX),
            Step(
                "contact_method",
                "choice",
                choices=tuple(
                    Choice(texts.get(f"intake.contact_method.{m}"), m) for m in ("line", "phone", "email")
                ),
            ),
            Step("phone", "phone", when=lambda a: a.get("contact_method") == "phone"),
            Step("email", "email", when=lambda a: a.get("contact_method") == "email"),
            Step("body", "multi_text", max_length=BODY_MAX),
            Step("preferred_dates", "preference", optional=True, max_length=PREFERENCE_MAX),
        ),
    )


async def create_case(
    answers: dict[str, Any], user_id: int, tx: Repositories, now: datetime, local_year: int
) -> Case:
    """Store the confirmed consultation as a case under the next number of the year."""
    new = NewCase(
        user_id=user_id,
        category=answers["category"],
        requester_type=answers["requester_type"],
        organisation=answers.get("organisation"),
        person_name=answers["name"],
        contact_method=cast(Any, answers["contact_method"]),
        phone=answers.get("phone"),
        email=answers.get("email"),
        body=answers["body"],
        preferred_dates=answers.get("preferred_dates"),
    )
    return await tx.cases.create(new, now, local_year)


def engine(categories: Sequence[tuple[str, str]], texts: Texts) -> Engine:
    return Engine(intake_flow(categories, texts), texts)
