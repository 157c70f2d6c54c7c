"""配信設定, 配信停止 and the question after a sign-up at the front desk, against the real storage; the
announcement's text; who storage counts as a recipient."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from flows.announcements import announcement
from flows.desk import Reply, respond
from flows.messages import Choice, Inbound, Text
from storage import Database
from storage.events import Event, EventDraft
from tests.conftest import NOW
from tests.flows.test_desk import MENU, TEXTS, Citizen, at_name, desk_context

KINDS = (("salon", "ミズベサロン"), ("npo-seminar", "NPO入門セミナー"), ("seminar", "市民活動基礎セミナー"))
# 12月5日(土) 14:00 in Tokyo.
START = datetime.fromisoformat("2026-12-05T05:00:00+00:00")


@dataclass
class Subscriber(Citizen):
    """A citizen at a desk configured with event kinds."""

    async def send(self, inbound: Inbound, db: Database | None = None) -> Reply:
        async with (db or self.db).transaction() as tx:
            user = await tx.users.ensure(self.line_id, self.now)
            return await respond(inbound, user, tx, replace(desk_context(self.now), event_kinds=KINDS))

    async def kinds(self) -> set[str]:
        return await self.db.read.subscriptions.kinds((await self.user()).id)

    async def stopped(self) -> bool:
        return await self.db.read.subscriptions.stopped((await self.user()).id)


@pytest.fixture
def citizen(db: Database) -> Subscriber:
    return Subscriber(db)


async def add_event(db: Database, uid: str, kind: str = "salon", **more: object) -> Event:
    values: dict[str, object] = {
        "uid": uid,
        "kind": kind,
        "title": f"交流会 {uid}",
        "starts_at": START,
        "venue": "横浜市市民協働推進センター",
        **more,
    }
    async with db.transaction() as tx:
        return await tx.events.upsert(EventDraft(**values), NOW)  # type: ignore[arg-type]


def only_text(reply: Reply) -> Text:
    [message] = reply.messages
    assert isinstance(message, Text)
    return message


# -- 配信設定 --------------------------------------------------------------------------------------


async def test_settings_list_every_kind_off_until_chosen(citizen: Subscriber) -> None:
    shown = only_text(await citizen.say("配信設定"))
    assert "1. ミズベサロン：受け取らない" in shown.text
    assert "2. NPO入門セミナー：受け取らない" in shown.text
    assert "3. 市民活動基礎セミナー：受け取らない" in shown.text
    assert "番号か種類の名前を送ると" in shown.text
    assert [c.value for c in shown.choices] == [
        "subs:toggle:salon",
        "subs:toggle:npo-seminar",
        "subs:toggle:seminar",
        "unsubscribe",
        "menu",
    ]
    assert await citizen.kinds() == set()


async def test_a_typed_number_half_or_full_width_or_a_name_toggles_a_kind(citizen: Subscriber) -> None:
    await citizen.say("配信設定")
    on = only_text(await citizen.say("1"))
    assert on.text.startswith("ミズベサロンのお知らせを受け取ります。")
    assert "1. ミズベサロン：受け取る" in on.text
    assert on.choices[0] == Choice("✅ミズベサロン", "subs:toggle:salon")
    assert await citizen.kinds() == {"salon"}
    # Still at the settings: a full-width number (a Japanese keyboard) names the next one.
    assert "NPO入門セミナーのお知らせを受け取ります。" in only_text(await citizen.say("２")).text
    assert await citizen.kinds() == {"salon", "npo-seminar"}
    off = only_text(await citizen.say("ミズベサロン"))
    assert off.text.startswith("ミズベサロンのお知らせを止めました。")
    assert await citizen.kinds() == {"npo-seminar"}
    # セミナー fits two kinds: asked again, nothing changed.
    again = only_text(await citizen.say("セミナー"))
    assert again.text.startswith(TEXTS.get("invalid.ambiguous"))
    assert await citizen.kinds() == {"npo-seminar"}
    # Anything else leaves the settings and is answered as usual.
    assert (await citizen.say("メニュー")).messages == [MENU]
    assert await citizen.conversation() is None
    assert await citizen.kinds() == {"npo-seminar"}


async def test_buttons_toggle_anywhere_and_a_forged_kind_changes_nothing(citizen: Subscriber) -> None:
    await citizen.tap("subs:toggle:seminar")
    assert await citizen.kinds() == {"seminar"}
    await citizen.tap("subs:toggle:seminar")
    assert await citizen.kinds() == set()
    refused = only_text(await citizen.tap("subs:toggle:no-such-kind"))
    assert refused.text.startswith(TEXTS.get("announcements.unknown_kind"))
    assert await citizen.kinds() == set()


async def test_settings_in_a_consultation_show_the_choices_and_resume_it(citizen: Subscriber) -> None:
    await at_name(citizen)
    reply = await citizen.say("配信設定")
    assert "変更は、ご相談の入力が終わってから" in str(reply.messages[0])
    conversation = await citizen.conversation()
    assert conversation is not None and conversation.flow == "intake" and conversation.step == "name"


# -- 配信停止 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "words",
    ["配信停止", "配信を止めて", "お知らせ停止", "ストップ", "配信を停止してください", "お知らせはいらない"],
)
async def test_stop_and_its_variants_stop_everything_and_say_how_to_resume(
    citizen: Subscriber, words: str
) -> None:
    await citizen.tap("subs:toggle:salon")
    reply = await citizen.say(words)
    stopped = reply.messages[0]
    assert isinstance(stopped, Text) and stopped.text == TEXTS.get("announcements.stopped")
    assert "「配信再開」" in stopped.text
    assert reply.messages[-1] == MENU
    assert await citizen.stopped()
    assert await citizen.kinds() == {"salon"}  # kept for a resumption


async def test_resume_by_typing_or_by_choosing_a_kind(citizen: Subscriber) -> None:
    await citizen.tap("subs:toggle:salon")
    await citizen.say("配信停止")
    shown = only_text(await citizen.say("配信設定"))
    assert TEXTS.get("announcements.settings_stopped") in shown.text
    assert Choice(TEXTS.get("announcements.resume"), "subs:resume") in shown.choices
    resumed = only_text(await citizen.say("配信再開"))
    assert resumed.text.startswith(TEXTS.get("announcements.resumed"))
    assert not await citizen.stopped()
    await citizen.say("配信停止")
    chosen = only_text(await citizen.tap("subs:toggle:seminar"))
    assert TEXTS.get("announcements.resumed") in chosen.text
    assert not await citizen.stopped() and await citizen.kinds() == {"salon", "seminar"}


# -- the question after a sign-up --------------------------------------------------------------------


async def test_a_sign_up_offers_its_kind_once_and_a_typed_yes_subscribes(
    db: Database, citizen: Subscriber
) -> None:
    first, second = await add_event(db, "a"), await add_event(db, "b")
    signed = await citizen.tap(f"event:{first.id}:register")
    done, offer = signed.messages
    assert isinstance(done, Text) and done.text.startswith("お申し込みを受け付けました。")
    assert isinstance(offer, Text)  # the question ends the answer (its quick replies show)
    assert offer.text.startswith("ミズベサロンの新しいイベントが決まったら")
    assert "1. 受け取る\n2. 受け取らない" in offer.text
    assert [c.value for c in offer.choices] == ["subs:offer:salon:yes", "subs:offer:salon:no"]
    taken = await citizen.say("はい")
    assert taken.messages == [Text(TEXTS.get("announcements.offer_taken", label="ミズベサロン")), MENU]
    assert await citizen.kinds() == {"salon"}
    # Chosen already: the next sign-up of that kind asks nothing.
    again = await citizen.tap(f"event:{second.id}:register")
    assert again.messages[-1] == MENU and len(again.messages) == 2


async def test_a_declined_offer_is_not_asked_again(db: Database, citizen: Subscriber) -> None:
    first, second = await add_event(db, "a", "seminar"), await add_event(db, "b", "seminar")
    await citizen.tap(f"event:{first.id}:register")
    declined = await citizen.say("受け取らない")
    assert declined.messages[0] == Text(
        TEXTS.get("announcements.offer_declined", label="市民活動基礎セミナー")
    )
    await citizen.tap(f"event:{first.id}:cancel:yes")
    again = await citizen.tap(f"event:{second.id}:register")
    assert again.messages[-1] == MENU  # no question this time
    assert await citizen.kinds() == set()


async def test_no_offer_after_stop_nor_in_a_consultation(db: Database, citizen: Subscriber) -> None:
    event = await add_event(db, "a", capacity=5)
    await citizen.say("配信停止")
    stopped = await citizen.tap(f"event:{event.id}:register")
    assert stopped.messages[-1] == MENU
    other = Subscriber(db, line_id="U_TARO")
    await at_name(other)
    during = await other.tap(f"event:{event.id}:register")
    assert not any("お知らせしましょうか" in str(m) for m in during.messages)
    # Not asked in the consultation, so it may be asked at the next sign-up outside it.
    async with db.transaction() as tx:
        user = await tx.users.ensure("U_TARO", NOW)
        assert await tx.subscriptions.mark_offered(user.id, "salon", NOW)


async def test_deletion_removes_the_choices_and_the_stop(citizen: Subscriber) -> None:
    await citizen.tap("subs:toggle:salon")
    await citizen.say("配信停止")
    await citizen.say("削除")
    await citizen.say("はい")
    assert await citizen.kinds() == set()
    assert not await citizen.stopped()


# -- the announcement and who gets it --------------------------------------------------------------


def test_the_announcement_names_event_time_place_and_how_to_register_and_stop() -> None:
    event = Event(
        id=7, uid="x", kind="salon", title="ミズベサロン 川辺の交流会", description="", venue="象の鼻テラス",
        starts_at=START, ends_at=None, capacity=None, registration_deadline=None, status="open",
        created_at=NOW, updated_at=NOW, online_url="https://example.jp/zoom/secret",
    )  # fmt: skip
    message = announcement(event, "ミズベサロン", TEXTS, ZoneInfo("Asia/Tokyo"))
    assert "（ミズベサロン）" in message.text
    assert "「ミズベサロン 川辺の交流会」" in message.text
    assert "日時：12月5日(土) 14:00" in message.text
    assert "場所：象の鼻テラス / オンライン" in message.text
    assert "「イベント」と送って" in message.text and "「配信停止」と送って" in message.text
    assert "secret" not in message.text  # the online address is for those signed up only
    assert [c.value for c in message.choices] == ["event:7", "unsubscribe"]


async def test_recipients_are_following_subscribers_of_the_kind_not_stopped(db: Database) -> None:
    async with db.transaction() as tx:
        ids = {}
        for line_id in ("U_A", "U_B", "U_STOPPED", "U_GONE", "U_OTHER"):
            ids[line_id] = (await tx.users.ensure(line_id, NOW)).id
            kind = "seminar" if line_id == "U_OTHER" else "salon"
            await tx.subscriptions.choose(ids[line_id], kind, True, NOW)
        await tx.subscriptions.stop(ids["U_STOPPED"], NOW)
        await tx.users.mark_unfollowed("U_GONE", NOW + timedelta(minutes=1))
        await tx.subscriptions.choose(ids["U_B"], "salon", False, NOW)
        await tx.subscriptions.choose(ids["U_B"], "salon", True, NOW)
    assert await db.read.subscriptions.recipients("salon") == ["U_A", "U_B"]
    assert await db.read.subscriptions.recipients("seminar") == ["U_OTHER"]
