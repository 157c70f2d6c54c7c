"""What the desk says outside a consultation and when one starts: the center's contact details in
ヘルプ, the fallback and お問い合わせ; keyword answers; only working menu items; the out-of-hours notice
as soon as a consultation starts, with the weekday. Real storage, hand-set clock."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from bot.config import DEFAULT_CATEGORIES
from flows.business_hours import BusinessCalendar
from flows.contact import Contact
from flows.desk import DeskContext, Reply, respond
from flows.faq import Faq
from flows.messages import Inbound, Text
from flows.texts import Texts
from storage import Database
from storage.cases import NewCase

TEXTS = Texts.load()
TOKYO = ZoneInfo("Asia/Tokyo")
CENTER = "横浜市市民協働推進センター"
CONTACT = Contact(
    CENTER,
    phone="045-123-4567",
    address="横浜市中区本町6-50-10 横浜市役所1階",
    hours="平日 9:00〜17:00",
    website="https://www.example.jp/center",
)
CALENDAR = BusinessCalendar(TOKYO, {d: (time(9), time(17)) for d in range(5)}, year_end_closed=True)
TUESDAY_MORNING = datetime(2026, 11, 24, 10, 0, tzinfo=TOKYO)
SATURDAY_EVENING = datetime(2026, 11, 21, 20, 0, tzinfo=TOKYO)


def context(now: datetime, contact: Contact = CONTACT) -> DeskContext:
    return DeskContext(
        texts=TEXTS,
        center_name=CENTER,
        now=now,
        timezone=TOKYO,
        categories=tuple((c.id, c.label) for c in DEFAULT_CATEGORIES),
        answer_days=3,
        keep_draft_days=7,
        calendar=CALENDAR,
        contact=contact,
    )


@dataclass
class Citizen:
    db: Database
    now: datetime = TUESDAY_MORNING
    contact: Contact = CONTACT

    async def send(self, inbound: Inbound) -> Reply:
        async with self.db.transaction() as tx:
            user = await tx.users.ensure("U_HANAKO", self.now)
            return await respond(inbound, user, tx, context(self.now, self.contact))

    async def say(self, words: str) -> str:
        """Everything the bot answered, as one text."""
        reply = await self.send(Inbound("text", text=words))
        return "\n".join(m.text for m in reply.messages if isinstance(m, Text))


@pytest.fixture
def citizen(db: Database) -> Citizen:
    return Citizen(db)


def assert_contact_shown(said: str) -> None:
    for detail in (
        "電話：045-123-4567",
        "所在地：横浜市中区本町6-50-10",
        "ウェブサイト：https://www.example.jp/center",
    ):
        assert detail in said, said


async def test_the_menu_offers_only_what_works(citizen: Citizen) -> None:
    reply = await citizen.send(Inbound("text", text="メニュー"))
    [menu] = reply.messages
    assert isinstance(menu, Text)
    assert [c.value for c in menu.choices] == [
        "consult",
        "events",
        "registrations",
        "subs",
        "status",
        "contact",
        "help",
    ]
    greeting = await citizen.send(Inbound("follow"))
    for said in (
        await citizen.say("ヘルプ"),
        "\n".join(m.text for m in greeting.messages if isinstance(m, Text)),
    ):
        assert "イベント" in said


async def test_help_lists_what_the_account_does_and_the_contact_details(citizen: Citizen) -> None:
    said = await citizen.say("ヘルプ")
    assert "相談する" in said and "相談状況" in said
    assert_contact_shown(said)


@pytest.mark.parametrize("words", ["こんにちは", "ボランティアをしたいのですが、どうすればいいですか"])
async def test_the_fallback_says_what_the_account_does_with_the_contact_details(
    citizen: Citizen, words: str
) -> None:
    said = await citizen.say(words)
    assert "ご相談の受付" in said and "相談する" in said
    assert_contact_shown(said)


@pytest.mark.parametrize("words", ["お問い合わせ", "連絡先"])
async def test_contact_words_and_the_contact_choice_give_the_details(citizen: Citizen, words: str) -> None:
    assert_contact_shown(await citizen.say(words))
    reply = await citizen.send(Inbound("choice", value="contact"))
    assert_contact_shown(reply.messages[0].text if isinstance(reply.messages[0], Text) else "")


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("開館時間は？", "平日 9:00〜17:00"),
        ("何時まで開いていますか", "平日 9:00〜17:00"),
        ("何時に開きますか", "平日 9:00〜17:00"),
        ("明日はお休みですか", "平日 9:00〜17:00"),
        ("場所はどこですか", "横浜市中区本町6-50-10"),
        ("ｱｸｾｽ", "https://www.example.jp/center"),
        ("あくせす方法", "横浜市中区本町6-50-10"),
        ("駐車場ありますか？", "駐車場"),
        ("電話番号を教えてください", "045-123-4567"),
        ("ＴＥＬ", "045-123-4567"),
    ],
)
async def test_keyword_answers(citizen: Citizen, words: str, expected: str) -> None:
    reply = await citizen.send(Inbound("text", text=words))
    [answer] = reply.messages
    assert isinstance(answer, Text) and expected in answer.text
    assert "{" not in answer.text
    assert not answer.text.startswith(TEXTS.get("fallback.text")[:10])


@pytest.mark.parametrize("words", ["セミナーは何時からですか", "夏休みのイベントはありますか"])
async def test_questions_about_events_do_not_get_the_opening_hours(citizen: Citizen, words: str) -> None:
    """何時 and 休み alone were keywords: a question about an event got the center's opening hours."""
    assert (await citizen.say(words)).startswith(TEXTS.get("fallback.text"))


async def test_a_keyword_answer_needing_a_detail_not_configured_is_not_given(db: Database) -> None:
    citizen = Citizen(db, contact=replace(CONTACT, phone=""))
    said = await citizen.say("電話番号を教えてください")
    assert said.startswith(TEXTS.get("fallback.text"))
    assert "電話：" not in said and "所在地：" in said


async def test_a_long_message_is_not_taken_for_a_keyword(citizen: Citizen) -> None:
    words = "NPO法人の設立を考えています。開館時間に伺って相談したいのですが、予約は必要でしょうか。書類の準備も教えてください。"
    assert (await citizen.say(words)).startswith(TEXTS.get("fallback.text"))


async def test_with_an_open_case_a_keyword_goes_to_staff(citizen: Citizen, db: Database) -> None:
    async with db.transaction() as tx:
        user = await tx.users.ensure("U_HANAKO", citizen.now)
        new = NewCase(user.id, "npo", "個人", "山田 花子", "line", "NPOを立ち上げたいです。")
        case = await tx.cases.create(new, citizen.now, 2026)
    reply = await citizen.send(Inbound("text", text="開館時間は？"))
    assert [e.kind for e in reply.staff] == ["case_followup"]
    assert [m.body for m in await db.read.cases.messages(case.id)] == ["開館時間は？"]


def test_the_shipped_keyword_file_loads_and_names_mistakes(tmp_path: object) -> None:
    faq = Faq.load()
    assert len(faq.entries) >= 5
    with pytest.raises(ValueError, match=r"answers\[1\]: unknown placeholder \{fax\}"):
        Faq.parse({"answers": [{"keywords": ["fax"], "answer": "{fax}"}]}, "faq.toml")
    with pytest.raises(ValueError, match=r"answers\[1\]: keywords"):
        Faq.parse({"answers": [{"keywords": [], "answer": "x"}]}, "faq.toml")


async def test_out_of_hours_the_notice_comes_when_a_consultation_starts(db: Database) -> None:
    citizen = Citizen(db, now=SATURDAY_EVENING)
    reply = await citizen.send(Inbound("text", text="相談する"))
    first = reply.messages[0]
    assert isinstance(first, Text)
    # Monday 23rd is 勤労感謝の日: the center opens on Tuesday.
    assert "受付時間外" in first.text and "11月24日(火) 9:00以降" in first.text
    assert "電話：045-123-4567" in first.text and "開館時間：平日 9:00〜17:00" in first.text
    assert reply.messages[1:]  # then the first question
    assert not any(isinstance(m, Text) and "受付時間外" in m.text for m in reply.messages[1:])


async def test_in_hours_a_consultation_starts_without_the_notice(citizen: Citizen) -> None:
    reply = await citizen.send(Inbound("text", text="相談する"))
    assert not any(isinstance(m, Text) and "受付時間外" in m.text for m in reply.messages)


async def test_the_year_end_break_is_out_of_hours(db: Database) -> None:
    citizen = Citizen(db, now=datetime(2026, 12, 30, 11, 0, tzinfo=TOKYO))
    said = await citizen.say("相談する")
    assert "1月4日(月) 9:00以降" in said
    assert CALENDAR.is_closed_day(date(2027, 1, 2))
