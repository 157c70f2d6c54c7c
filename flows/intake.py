"""The consultation intake (相談受付), declared as a flow, and what happens on confirm."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from flows import validators
from flows.engine import Answers, Engine, Flow, Step
from flows.messages import Choice
from flows.texts import Texts
from storage.cases import Case, NewCase
from storage.repositories import Repositories

NAME = "intake"
# Who is asking: the stored value is the label itself (staff read it on the card), so keep a label
# once cases carry it. Each with the words a citizen may type for it (flows.matching).
INDIVIDUAL = "個人"
REQUESTER_TYPES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (INDIVIDUAL, ("こじん", "個人です", "自分", "わたし", "私", "本人")),
    ("自治会・町内会", ("自治会", "町内会", "町会", "じちかい", "ちょうないかい", "連合町内会")),
    ("NPO法人・市民活動団体", ("NPO", "NPO法人", "特定非営利活動法人", "市民活動", "市民団体", "任意団体",
                               "ボランティア", "サークル", "団体")),
    ("企業", ("会社", "株式会社", "有限会社", "合同会社", "事業者", "お店", "商店", "きぎょう", "かいしゃ")),
    ("大学・学校", ("大学", "学校", "学生", "高校", "中学", "小学校", "専門学校", "がっこう", "だいがく")),
    ("行政", ("市役所", "区役所", "役所", "自治体", "行政機関", "ぎょうせい", "横浜市", "区")),
    ("その他", ("そのた", "ほか", "他", "どれでもない")),
)  # fmt: skip
CONTACT_METHODS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("line", ("LINE", "ライン", "このまま", "トーク", "ラインで")),
    ("phone", ("電話", "でんわ", "TEL", "phone", "携帯", "けいたい", "電話番号")),
    ("email", ("メール", "mail", "email", "e-mail", "Eメール", "メアド", "電子メール")),
)
AGREE_WORDS = ("同意", "同意します", "はい", "yes", "ok", "了解", "わかりました", "承知しました")
DECLINE_WORDS = ("同意しません", "いいえ", "no", "しない", "しません", "同意できない")
ORGANISATION_MAX = 100
NAME_MAX = 50
FURIGANA_MAX = 60
# The longest consultation text accepted, over all its messages (documented in docs/intake.md).
BODY_MAX = 2000
PREFERENCE_MAX = 200
# The most consultation categories `check-config` accepts. Any number could be paged, but a citizen
# choosing on a phone should see them all in two pages of LINE quick replies (10 + 次へ, then
# 前へ + 10, each with 戻る and キャンセル); tests/flows/test_paging.py holds this to the paging.
MAX_CATEGORIES = 20


def is_organisation(answers: Answers) -> bool:
    return answers.get("requester_type") not in (None, INDIVIDUAL)


def needs_furigana(answers: Answers) -> bool:
    """Asked when the name has kanji: staff must be able to read it aloud on the phone. A name in
    kana is its own ふりがな; one in letters is read as written."""
    return validators.has_kanji(str(answers.get("name", "")))


def intake_flow(categories: Sequence[tuple[str, str]], texts: Texts) -> Flow:
    """The steps, with the center's categories (id, label) from configuration."""
    return Flow(
        NAME,
        (
            Step(
                "privacy",
                "yes_no",
                choices=(
                    Choice(texts.get("intake.privacy.agree"), "yes", AGREE_WORDS),
                    Choice(texts.get("intake.privacy.decline"), "no", DECLINE_WORDS),
                ),
                gate=True,
                editable=False,
            ),
            Step("category", "choice", choices=tuple(Choice(label, cid) for cid, label in categories)),
            Step(
                "requester_type",
                "choice",
                choices=tuple(Choice(label, label, words) for label, words in REQUESTER_TYPES),
            ),
            Step("organisation", "text", when=is_organisation, max_length=ORGANISATION_MAX),
            Step(
                "name",
                "text",
                max_length=NAME_MAX,
                variant=lambda a: "organisation" if is_organisation(a) else None,
                resets=("furigana",),
            ),
            Step("furigana", "kana", when=needs_furigana, max_length=FURIGANA_MAX),
            Step(
                "contact_method",
                "choice",
                choices=tuple(
                    Choice(texts.get(f"intake.contact_method.{m}"), m, words) for m, words in CONTACT_METHODS
                ),
            ),
            Step("phone", "phone", when=lambda a: a.get("contact_method") == "phone"),
            Step("email", "email", when=lambda a: a.get("contact_method") == "email"),
            Step("body", "multi_text", max_length=BODY_MAX),
            Step("preferred_dates", "preference", optional=True, max_length=PREFERENCE_MAX),
        ),
    )


def furigana(answers: Answers) -> str | None:
    """The ふりがな stored with the case: as given, or the name itself when written in kana."""
    given = answers.get("furigana")
    if given:
        return str(given)
    name = str(answers.get("name", ""))
    return validators.kana(name, len(name) + 1) if validators.is_kana(name) else None


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
        furigana=furigana(answers),
        contact_method=cast(Any, answers["contact_method"]),
        phone=answers.get("phone"),
        email=answers.get("email"),
        body=answers["body"],
        preferred_dates=answers.get("preferred_dates"),
    )
    return await tx.cases.create(new, now, local_year)


def engine(categories: Sequence[tuple[str, str]], texts: Texts, policy: str = "") -> Engine:
    """`policy`: the line with the link to the full privacy policy, above the privacy question."""
    return Engine(intake_flow(categories, texts), texts, {"policy": policy})
