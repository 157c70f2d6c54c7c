"""The front desk (`flows.desk.respond`) against the real storage, event by event, with a hand-set clock.

Each event runs in its own transaction, as the inbox worker runs it; the user is loaded afresh each
time, so what the desk stored (privacy agreement, conversation, cases) is what the next event sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.config import DEFAULT_CATEGORIES
from flows.desk import DeskContext, Reply, StaffEvent, respond
from flows.messages import Choice, Inbound, Text
from flows.paging import listing
from flows.texts import Texts
from storage import Database
from storage.cases import Case, CaseMessage, CaseStatus, NewCase
from storage.conversations import Conversation
from storage.users import User
from tests.conftest import NOW

TEXTS = Texts.load()
CATEGORIES = tuple((c.id, c.label) for c in DEFAULT_CATEGORIES)
LABELS = dict(CATEGORIES)
TOKYO = ZoneInfo("Asia/Tokyo")
CENTER = "横浜市市民協働推進センター"

BACK = Choice(TEXTS.get("flow.back"), "flow:back")
CANCEL = Choice(TEXTS.get("flow.cancel"), "flow:cancel")
MENU = Text(
    TEXTS.get("menu.text"),
    choices=(
        Choice(TEXTS.get("menu.consult"), "consult"),
        Choice(TEXTS.get("menu.events"), "events"),
        Choice(TEXTS.get("menu.registrations"), "registrations"),
        Choice(TEXTS.get("menu.subscriptions"), "subs"),
        Choice(TEXTS.get("menu.status"), "status"),
        Choice(TEXTS.get("menu.contact"), "contact"),
        Choice(TEXTS.get("menu.help"), "help"),
    ),
)


def listed(prompt: str, *labels: str) -> str:
    """A question with its options numbered under it (every choice can be typed: LINE for PC)."""
    lines = [TEXTS.get("flow.list_item", number=n, label=label) for n, label in enumerate(labels, 1)]
    return "\n".join([prompt, *lines, TEXTS.get("flow.list_hint")])


# The privacy notice, then the question (no policy link: the context names no [privacy] policy_url).
NOTICE = Text(TEXTS.get("privacy.notice", center=CENTER, retention="3年"))
PRIVACY = Text(
    listed(TEXTS.get("intake.privacy.prompt", policy=""), "同意する", "同意しない"),
    choices=(
        Choice(TEXTS.get("intake.privacy.agree"), "yes"),
        Choice(TEXTS.get("intake.privacy.decline"), "no"),
    ),
)
CATEGORY = Text(
    listed(TEXTS.get("intake.category.prompt"), *(label for _, label in CATEGORIES)),
    choices=(*(Choice(label, cid) for cid, label in CATEGORIES), BACK, CANCEL),
)
NAME = Text(TEXTS.get("intake.name.prompt"), choices=(BACK, CANCEL))
FURIGANA = Text(TEXTS.get("intake.furigana.prompt"), choices=(BACK, CANCEL))
CONTACT = Text(
    listed(TEXTS.get("intake.contact_method.prompt"), "LINEで", "電話で", "メールで"),
    choices=(
        *(Choice(TEXTS.get(f"intake.contact_method.{m}"), m) for m in ("line", "phone", "email")),
        BACK,
        CANCEL,
    ),
)


def text(key: str, **values: object) -> Text:
    return Text(TEXTS.get(key, **values))


def choice_values(reply: Reply) -> list[str]:
    """The values of the choices offered with the reply's last message."""
    last = reply.messages[-1]
    assert isinstance(last, Text)
    return [c.value for c in last.choices]


def desk_context(now: datetime) -> DeskContext:
    return DeskContext(
        texts=TEXTS,
        center_name=CENTER,
        now=now,
        timezone=TOKYO,
        categories=CATEGORIES,
        answer_days=3,
        keep_draft_days=7,
    )


@dataclass
class Citizen:
    """One citizen at the desk. `now` is the injected clock, moved on by hand."""

    db: Database
    now: datetime = NOW
    line_id: str = "U_HANAKO"

    async def send(self, inbound: Inbound, db: Database | None = None) -> Reply:
        async with (db or self.db).transaction() as tx:
            user = await tx.users.ensure(self.line_id, self.now)
            return await respond(inbound, user, tx, desk_context(self.now))

    async def say(self, words: str) -> Reply:
        return await self.send(Inbound("text", text=words))

    async def tap(self, value: str) -> Reply:
        return await self.send(Inbound("choice", value=value))

    def wait(self, delta: timedelta) -> None:
        self.now += delta

    async def user(self) -> User:
        async with self.db.transaction() as tx:
            user = await tx.users.ensure(self.line_id, self.now)
        return user

    async def conversation(self) -> Conversation | None:
        return await self.db.read.conversations.get((await self.user()).id)

    async def cases(self) -> list[Case]:
        return await self.db.read.cases.for_user((await self.user()).id)

    async def open_case(self, category: str = "npo", status: CaseStatus = "new") -> Case:
        """A case stored as a finished intake would store it (seeded through the real repository)."""
        async with self.db.transaction() as tx:
            user = await tx.users.ensure(self.line_id, self.now)
            new = NewCase(
                user_id=user.id,
                category=category,
                requester_type="個人",
                person_name="山田 花子",
                contact_method="line",
                body="NPOを立ち上げたいです。",
            )
            case = await tx.cases.create(new, self.now, self.now.astimezone(TOKYO).year)
            if status != "new":
                await tx.cases.set_status(case.id, status, self.now)
            stored = await tx.cases.get(case.id)
        assert stored is not None
        return stored


async def messages_of(db: Database, case: Case) -> list[CaseMessage]:
    return await db.read.cases.messages(case.id)


async def at_name(citizen: Citizen) -> Conversation:
    """Agreed, category and requester type answered: the citizen is asked their name."""
    assert (await citizen.say("相談する")).messages == [NOTICE, PRIVACY]
    assert (await citizen.tap("yes")).messages == [CATEGORY]
    await citizen.tap("npo")
    assert (await citizen.tap("個人")).messages == [NAME]
    conversation = await citizen.conversation()
    assert conversation is not None and conversation.step == "name"
    return conversation


@pytest.fixture
def citizen(db: Database) -> Citizen:
    return Citizen(db)


# -- follow, menu, help ----------------------------------------------------------------------


async def test_follow_greets_with_the_center_name_and_shows_the_menu(citizen: Citizen) -> None:
    reply = await citizen.send(Inbound("follow"))
    assert reply == Reply([text("greeting.text", center=CENTER), MENU])
    assert CENTER in TEXTS.get("greeting.text", center=CENTER)
    assert [c.value for c in MENU.choices] == [
        "consult",
        "events",
        "registrations",
        "subs",
        "status",
        "contact",
        "help",
    ]
    assert await citizen.conversation() is None


async def test_unfollow_is_not_answered(citizen: Citizen) -> None:
    assert await citizen.send(Inbound("unfollow")) == Reply()


async def test_added_again_mid_intake_the_next_message_is_not_taken_as_an_answer(citizen: Citizen) -> None:
    """Blocked and added again at the name step: the greeting says to choose from the menu, so the
    next text is no name; the intake is kept as a draft that 相談する offers to resume."""
    await at_name(citizen)
    assert await citizen.send(Inbound("follow")) == Reply([text("greeting.text", center=CENTER), MENU])
    assert await citizen.say("こんにちは") == Reply([text("fallback.text"), MENU])
    kept = await citizen.conversation()
    assert kept is not None and kept.data["draft"] is True and kept.data.get("name") in (None, "")
    asked = await citizen.say("相談する")
    [question] = asked.messages
    assert isinstance(question, Text) and question.text.startswith(TEXTS.get("flow.draft_found"))
    assert (await citizen.tap("flow:resume")).messages == [NAME]


async def test_added_again_at_the_deletion_question_drops_it_and_keeps_the_intake_it_interrupted(
    citizen: Citizen,
) -> None:
    await at_name(citizen)
    await citizen.say("削除")
    await citizen.send(Inbound("follow"))
    kept = await citizen.conversation()
    assert kept is not None and kept.flow == "intake" and kept.data["draft"] is True
    assert await citizen.say("はい") == Reply([text("fallback.text"), MENU])  # no answer to a question gone
    assert await citizen.conversation() == kept


@pytest.mark.parametrize("words", ["メニュー", "めにゅー", "MENU", " 最初 ", "はじめ"])
async def test_menu_words_show_the_menu(citizen: Citizen, words: str) -> None:
    assert await citizen.say(words) == Reply([MENU])


@pytest.mark.parametrize("inbound", [Inbound("text", text="ヘルプ"), Inbound("text", text="？"),
                                     Inbound("text", text="使い方"), Inbound("choice", value="help")])  # fmt: skip
async def test_help_words_and_the_help_choice_explain_and_show_the_menu(
    citizen: Citizen, inbound: Inbound
) -> None:
    assert await citizen.send(inbound) == Reply([text("help.text"), MENU])


@pytest.mark.parametrize(("value", "key"), [("events", "events.none"), ("registrations", "events.mine_none")])
async def test_events_and_registrations_without_any_say_so(citizen: Citizen, value: str, key: str) -> None:
    assert await citizen.tap(value) == Reply([text(key), MENU])


async def test_status_choice_without_cases_says_there_are_none(citizen: Citizen) -> None:
    assert await citizen.tap("status") == Reply([text("status.none"), MENU])


# -- the intake ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "inbound",
    [
        Inbound("text", text="相談する"),
        Inbound("text", text="相談したい"),
        Inbound("choice", value="consult"),
    ],
)
async def test_consult_starts_the_intake_at_privacy_with_nothing_personal_stored(
    citizen: Citizen, inbound: Inbound
) -> None:
    reply = await citizen.send(inbound)
    assert reply == Reply([NOTICE, PRIVACY])
    conversation = await citizen.conversation()
    assert conversation is not None
    assert (conversation.flow, conversation.step) == ("intake", "privacy")
    assert conversation.data.get("answers") == {} and not conversation.data.get("buffer")
    assert (conversation.started_at, conversation.updated_at, conversation.nudged_at) == (NOW, NOW, None)
    assert (await citizen.user()).privacy_agreed_at is None


@pytest.mark.parametrize("decline", [Inbound("choice", value="no"), Inbound("text", text="同意しない")])
async def test_declining_privacy_deletes_the_conversation_and_keeps_nothing(
    citizen: Citizen, decline: Inbound
) -> None:
    await citizen.say("相談する")
    citizen.wait(timedelta(minutes=1))
    reply = await citizen.send(decline)
    assert reply == Reply([text("intake.privacy.declined"), MENU])
    assert await citizen.conversation() is None
    assert await citizen.cases() == []
    assert (await citizen.user()).privacy_agreed_at is None


async def test_agreeing_to_privacy_records_when(citizen: Citizen) -> None:
    await citizen.say("相談する")
    citizen.wait(timedelta(minutes=2))
    assert await citizen.tap("yes") == Reply([CATEGORY])
    assert (await citizen.user()).privacy_agreed_at == NOW + timedelta(minutes=2)
    conversation = await citizen.conversation()
    assert conversation is not None and conversation.step == "category"
    assert conversation.data["answers"] == {"privacy": "yes"}
    assert (conversation.started_at, conversation.updated_at) == (NOW, NOW + timedelta(minutes=2))


@pytest.mark.parametrize(
    ("now", "number"),
    [
        (datetime(2026, 12, 31, 15, 30, tzinfo=UTC), "2027-0001"),  # 00:30 on 1 January in Yokohama
        (datetime(2026, 12, 31, 14, 59, tzinfo=UTC), "2026-0001"),  # 23:59 on 31 December in Yokohama
    ],
)
async def test_a_complete_intake_stores_a_case_numbered_in_the_local_year(
    db: Database, now: datetime, number: str
) -> None:
    citizen = Citizen(db, now=now)
    assert (await citizen.say("相談する")).messages == [NOTICE, PRIVACY]
    assert (await citizen.tap("yes")).messages == [CATEGORY]
    await citizen.tap("npo")
    assert (await citizen.say("個人")).messages == [NAME]
    assert (await citizen.say("山田 花子")).messages == [FURIGANA]
    assert (await citizen.say("ヤマダ　ハナコ")).messages == [CONTACT]
    body = await citizen.tap("line")
    assert body.messages == [Text(TEXTS.get("intake.body.prompt", max=2000), choices=(BACK, CANCEL))]
    await citizen.say("NPOを立ち上げたいです。")
    await citizen.say("定款の作り方を知りたいです。")
    await citizen.tap("flow:done")
    summary = await citizen.tap("flow:skip")
    assert choice_values(summary) == ["flow:confirm", "flow:edit", "flow:cancel"]
    assert await citizen.cases() == []  # nothing is a case before it is confirmed

    reply = await citizen.tap("flow:confirm")

    [case] = await citizen.cases()
    assert reply == Reply(
        [text("intake.received", number=number, days=3)], [StaffEvent("case_created", case.id)]
    )
    assert "土日祝日・年末年始を除く3日以内" in TEXTS.get("intake.received", number=number, days=3)
    assert case.number == number
    assert (case.category, case.requester_type, case.organisation) == ("npo", "個人", None)
    assert (case.person_name, case.contact_method, case.phone, case.email) == (
        "山田 花子",
        "line",
        None,
        None,
    )
    assert case.furigana == "やまだ はなこ"  # typed in katakana with a full-width space
    assert case.body == "NPOを立ち上げたいです。\n定款の作り方を知りたいです。"
    assert (case.preferred_dates, case.status, case.created_at) == (None, "new", now)
    assert case.user_id == (await citizen.user()).id
    assert await citizen.conversation() is None


async def test_a_second_consultation_gets_the_next_number_of_the_year(citizen: Citizen) -> None:
    await citizen.open_case()
    await at_name(citizen)
    await citizen.say("山田 花子")
    await citizen.say("やまだ はなこ")
    await citizen.tap("line")
    await citizen.say("二件目の相談です。")
    await citizen.tap("flow:done")
    await citizen.tap("flow:skip")
    reply = await citizen.tap("flow:confirm")
    assert reply.messages == [text("intake.received", number="2026-0002", days=3)]
    assert [c.number for c in await citizen.cases()] == ["2026-0001", "2026-0002"]


async def test_help_mid_flow_answers_then_asks_the_same_question_again(citizen: Citizen) -> None:
    before = await at_name(citizen)
    citizen.wait(timedelta(minutes=3))
    reply = await citizen.say("ヘルプ")
    assert reply == Reply([text("help.text"), text("flow.help_resume"), NAME])
    after = await citizen.conversation()
    assert after is not None
    assert (after.flow, after.step, after.data, after.started_at) == ("intake", "name", before.data, NOW)
    assert after.updated_at == NOW + timedelta(minutes=3)  # asking for help is activity: no early nudge
    # ...and the flow goes on from there.
    assert (await citizen.say("山田 花子")).messages == [FURIGANA]


async def test_the_menu_word_mid_flow_resumes_instead_of_leaving(citizen: Citizen) -> None:
    before = await at_name(citizen)
    reply = await citizen.say("メニュー")
    assert reply == Reply([text("flow.help_resume"), NAME])
    after = await citizen.conversation()
    assert after is not None and (after.step, after.data) == ("name", before.data)


async def test_consult_mid_flow_does_not_start_over(citizen: Citizen) -> None:
    before = await at_name(citizen)
    assert await citizen.say("相談する") == Reply([text("flow.help_resume"), NAME])
    after = await citizen.conversation()
    assert after is not None and (after.step, after.data) == ("name", before.data)


async def test_status_mid_flow_shows_the_cases_and_resumes(citizen: Citizen) -> None:
    case = await citizen.open_case(category="general")
    before = await at_name(citizen)
    reply = await citizen.say("相談状況")
    status = "\n".join(
        [
            TEXTS.get("status.header"),
            TEXTS.get("status.line", number=case.number, category="総合相談", status="受付済み"),
        ]
    )
    assert reply == Reply([Text(status), text("flow.help_resume"), NAME])
    after = await citizen.conversation()
    assert after is not None and (after.step, after.data) == ("name", before.data)
    assert await messages_of(citizen.db, case) == []  # the word was not taken for a follow-up


async def test_status_lists_every_case_with_its_status_label(citizen: Citizen) -> None:
    first = await citizen.open_case(category="npo")
    second = await citizen.open_case(category="general", status="in_progress")
    third = await citizen.open_case(category="other", status="closed")
    reply = await citizen.say("相談状況")
    assert reply == Reply(
        [
            Text(
                "ご相談の状況です。\n"
                f"{first.number} NPOの設立・運営：受付済み\n"
                f"{second.number} 総合相談：対応中\n"
                f"{third.number} その他：対応完了"
            ),
            MENU,
        ]
    )
    assert (TEXTS.get("status.new"), TEXTS.get("status.in_progress"), TEXTS.get("status.closed")) == (
        "受付済み",
        "対応中",
        "対応完了",
    )


async def test_a_state_saved_mid_flow_is_found_again_after_a_restart(citizen: Citizen) -> None:
    before = await at_name(citizen)
    restarted = await Database.open(citizen.db.path)  # new connections: nothing carried in memory
    try:
        citizen.wait(timedelta(minutes=5))
        reply = await citizen.send(Inbound("text", text="山田 花子"), db=restarted)
        assert reply == Reply([FURIGANA])
        after = await restarted.read.conversations.get(before.user_id)
    finally:
        await restarted.close()
    assert after is not None and after.step == "furigana"
    assert after.data["answers"] == {**before.data["answers"], "name": "山田 花子"}
    assert after.started_at == NOW


# -- follow-ups ------------------------------------------------------------------------------


async def test_free_text_with_one_open_case_is_added_to_it(citizen: Citizen) -> None:
    case = await citizen.open_case()
    await citizen.open_case(status="closed")  # closed cases take no follow-ups
    citizen.wait(timedelta(days=1))
    reply = await citizen.say("定款の案ができました。")
    [message] = await messages_of(citizen.db, case)
    assert reply == Reply(
        [text("followup.added", number=case.number)], [StaffEvent("case_followup", case.id, message.id)]
    )
    assert (message.direction, message.kind, message.body) == ("citizen", "text", "定款の案ができました。")
    assert (message.line_message_id, message.author, message.created_at) == (None, None, citizen.now)
    assert await citizen.conversation() is None


async def test_with_two_open_cases_the_citizen_chooses_and_every_held_message_goes_there(
    citizen: Citizen,
) -> None:
    first = await citizen.open_case(category="npo")
    second = await citizen.open_case(category="general")
    await citizen.open_case(category="other", status="closed")
    options = (
        Choice(f"{first.number} NPOの設立・運営", f"followup:{first.id}"),
        Choice(f"{second.number} 総合相談", f"followup:{second.id}"),
    )
    # Listed, numbered, in the text too: LINE for PC shows no quick replies.
    listed = listing(options, TEXTS)
    question = f"{TEXTS.get('followup.which')}\n{listed}\n{TEXTS.get('followup.which_cancel')}"
    which = Text(question, choices=(*options, CANCEL))
    assert await citizen.say("一つ目です。") == Reply([which])
    assert await citizen.send(Inbound("text", text="二つ目です。")) == Reply([which])
    held = await citizen.conversation()
    assert held is not None and held.flow == "followup"
    assert [m["text"] for m in held.data["held"]] == ["一つ目です。", "二つ目です。"]
    assert await messages_of(citizen.db, first) == [] and await messages_of(citizen.db, second) == []

    reply = await citizen.tap(f"followup:{first.id}")

    stored = await messages_of(citizen.db, first)
    assert [(m.direction, m.kind, m.body) for m in stored] == [
        ("citizen", "text", "一つ目です。"),
        ("citizen", "text", "二つ目です。"),
    ]
    assert reply == Reply(
        [text("followup.added", number=first.number)],
        [
            StaffEvent("case_followup", first.id, stored[0].id),
            StaffEvent("case_followup", first.id, stored[1].id),
        ],
    )
    assert await messages_of(citizen.db, second) == []
    assert await citizen.conversation() is None


@pytest.mark.parametrize("typed", ["1", "１"])
async def test_with_two_open_cases_a_typed_number_picks_the_case_listed_under_it(
    citizen: Citizen, typed: str
) -> None:
    """LINE for PC: no quick replies, so the citizen reads the list and types a number."""
    first = await citizen.open_case(category="npo")
    second = await citizen.open_case(category="general")
    asked = await citizen.say("来週の打ち合わせの件です")
    [question] = asked.messages
    assert isinstance(question, Text) and f"1. {first.number}" in question.text.replace("１", "1")
    await citizen.say(typed)
    assert [m.body for m in await messages_of(citizen.db, first)] == ["来週の打ち合わせの件です"]
    assert await messages_of(citizen.db, second) == []
    assert await citizen.conversation() is None


@pytest.mark.parametrize("typed", ["キャンセル", "ｷｬﾝｾﾙ", "やめる", "cancel"])
async def test_with_two_open_cases_typing_cancel_sends_nothing_held(citizen: Citizen, typed: str) -> None:
    """LINE for PC: the question's キャンセル button is not shown, so the citizen types it."""
    first = await citizen.open_case(category="npo")
    second = await citizen.open_case(category="general")
    await citizen.say("来週の打ち合わせの件です")
    assert await citizen.say(typed) == Reply([text("followup.cancelled"), MENU])
    assert await messages_of(citizen.db, first) == [] and await messages_of(citizen.db, second) == []
    assert await citizen.conversation() is None


@pytest.mark.parametrize("value", ["flow:confirm", "flow:skip", "followup:99", "category:npo"])
async def test_a_button_that_names_nothing_now_is_said_to_be_over_not_answered_as_typed_text(
    citizen: Citizen, value: str
) -> None:
    """送信 tapped twice (the second tap after the consultation was received), an old confirm's
    button tapped later: not the greeting meant for typed text, which says to start with 相談する."""
    assert await citizen.tap(value) == Reply([text("flow.stale_choice"), MENU])
    await citizen.open_case()
    assert await citizen.tap(value) == Reply([text("flow.stale_choice"), MENU])
    assert await citizen.conversation() is None


async def test_a_case_button_with_a_number_no_case_can_have_names_no_case(citizen: Citizen) -> None:
    """followup:<4,400 digits> (a modified client): no ValueError from int(), no case named."""
    first = await citizen.open_case(category="npo")
    await citizen.open_case(category="general")
    asked = await citizen.say("来週の打ち合わせの件です")
    reply = await citizen.tap("followup:" + "9" * 4400)
    assert reply.messages  # answered, not failed
    assert await messages_of(citizen.db, first) == [] or asked


async def fourteen_open_cases(citizen: Citizen) -> list[Case]:
    return [await citizen.open_case(category="general") for _ in range(14)]


def offered(reply: Reply) -> list[Choice]:
    last = reply.messages[-1]
    assert isinstance(last, Text)
    return list(last.choices)


async def test_with_fourteen_open_cases_every_case_can_be_reached_by_paging(citizen: Citizen) -> None:
    cases = await fourteen_open_cases(citizen)
    asked = await citizen.say("領収書の件です。")
    first_page = offered(asked)
    assert len(first_page) <= 13 and first_page[-1] == CANCEL
    assert first_page[-2].label == TEXTS.get("flow.next_page")
    # Every case is listed, numbered, in the text.
    last = asked.messages[-1]
    assert isinstance(last, Text)
    assert all(f"{n}. {c.number} 総合相談" in last.text for n, c in enumerate(cases, 1))
    second_page = offered(await citizen.tap(first_page[-2].value))
    assert second_page[0].label == TEXTS.get("flow.prev_page") and len(second_page) <= 13
    shown = [c.value for c in first_page + second_page if c.value.startswith("followup:")]
    assert shown == [f"followup:{c.id}" for c in cases]
    conversation = await citizen.conversation()
    assert conversation is not None and conversation.data["page"] == 1
    reply = await citizen.tap(f"followup:{cases[13].id}")
    [message] = await messages_of(citizen.db, cases[13])
    assert message.body == "領収書の件です。"
    assert reply == Reply(
        [text("followup.added", number=cases[13].number)],
        [StaffEvent("case_followup", cases[13].id, message.id)],
    )


@pytest.mark.parametrize("typed", ["14", "１４", "{number}", "{number} 総合相談"])
async def test_with_fourteen_open_cases_the_fourteenth_can_be_typed_on_the_first_page(
    citizen: Citizen, typed: str
) -> None:
    cases = await fourteen_open_cases(citizen)
    await citizen.say("領収書の件です。")
    reply = await citizen.say(typed.format(number=cases[13].number))
    [message] = await messages_of(citizen.db, cases[13])
    assert message.body == "領収書の件です。"
    assert reply.messages == [text("followup.added", number=cases[13].number)]
    assert await citizen.conversation() is None


async def test_a_message_typed_while_paging_is_held_and_the_page_kept(citizen: Citizen) -> None:
    cases = await fourteen_open_cases(citizen)
    await citizen.say("一つ目です。")
    await citizen.say("次へ")
    again = await citizen.say("二つ目です。")
    assert offered(again)[0].label == TEXTS.get("flow.prev_page")
    await citizen.tap(f"followup:{cases[12].id}")
    assert [m.body for m in await messages_of(citizen.db, cases[12])] == ["一つ目です。", "二つ目です。"]


async def test_cancelling_the_choice_drops_the_held_messages(citizen: Citizen) -> None:
    first = await citizen.open_case()
    second = await citizen.open_case()
    await citizen.say("やっぱり")
    assert await citizen.tap("flow:cancel") == Reply([text("followup.cancelled"), MENU])
    assert await messages_of(citizen.db, first) == [] and await messages_of(citizen.db, second) == []
    assert await citizen.conversation() is None


async def test_a_command_instead_of_a_choice_files_the_held_messages_with_the_newest_case(
    citizen: Citizen,
) -> None:
    older = await citizen.open_case()
    newest = await citizen.open_case()
    await citizen.say("資料を送ります。")
    reply = await citizen.say("メニュー")
    [message] = await messages_of(citizen.db, newest)
    assert message.body == "資料を送ります。" and message.direction == "citizen"
    assert reply == Reply(
        [text("followup.added", number=newest.number), MENU],
        [StaffEvent("case_followup", newest.id, message.id)],
    )
    assert await messages_of(citizen.db, older) == []
    assert await citizen.conversation() is None


async def test_starting_a_consultation_instead_of_choosing_files_the_held_messages_first(
    citizen: Citizen,
) -> None:
    await citizen.open_case()
    newest = await citizen.open_case()
    await citizen.say("追加です。")
    reply = await citizen.say("相談する")
    [message] = await messages_of(citizen.db, newest)
    assert reply == Reply(
        [text("followup.added", number=newest.number), NOTICE, PRIVACY],
        [StaffEvent("case_followup", newest.id, message.id)],
    )
    conversation = await citizen.conversation()
    assert conversation is not None and (conversation.flow, conversation.step) == ("intake", "privacy")


async def test_an_image_with_one_open_case_is_kept_with_the_case(citizen: Citizen) -> None:
    case = await citizen.open_case()
    reply = await citizen.send(Inbound("media", media="image", message_id="m1"))
    [message] = await messages_of(citizen.db, case)
    assert (message.direction, message.kind, message.line_message_id) == ("citizen", "image", "m1")
    assert reply == Reply(
        [text("followup.media_added", number=case.number)], [StaffEvent("case_followup", case.id, message.id)]
    )


async def test_free_text_without_an_open_case_gets_the_menu_and_stores_nothing(citizen: Citizen) -> None:
    closed = await citizen.open_case(status="closed")
    assert await citizen.say("こんにちは") == Reply([text("fallback.text"), MENU])
    assert await messages_of(citizen.db, closed) == []
    assert await citizen.conversation() is None


async def test_an_image_without_an_open_case_is_answered_and_not_kept(citizen: Citizen) -> None:
    reply = await citizen.send(Inbound("media", media="image", message_id="m1"))
    assert reply == Reply([text("media.image")])
    assert await citizen.conversation() is None and await citizen.cases() == []


@pytest.mark.parametrize("kind", ["sticker", "location"])
@pytest.mark.parametrize("with_case", [False, True])
async def test_stickers_and_locations_are_answered_and_never_filed(
    citizen: Citizen, kind: str, with_case: bool
) -> None:
    case = await citizen.open_case() if with_case else None
    inbound = Inbound("sticker") if kind == "sticker" else Inbound("location")
    assert await citizen.send(inbound) == Reply([text(f"media.{kind}")])
    if case is not None:
        assert await messages_of(citizen.db, case) == []
    assert await citizen.conversation() is None


async def test_going_back_and_declining_privacy_withdraws_the_agreement(citizen: Citizen) -> None:
    await citizen.say("相談する")
    await citizen.tap("yes")
    assert (await citizen.user()).privacy_agreed_at == NOW
    assert await citizen.tap("flow:back") == Reply([PRIVACY])
    assert await citizen.tap("no") == Reply([text("intake.privacy.declined"), MENU])
    assert await citizen.conversation() is None
    assert (await citizen.user()).privacy_agreed_at is None
