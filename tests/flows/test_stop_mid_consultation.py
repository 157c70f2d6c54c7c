"""ストップ typed alone during a consultation (review 42 R5): at one of its questions it stops the
consultation, as キャンセル does (asked first when something would be lost, answerable by buttons and by
typing), and never turns off event announcements; a citizen who gets announcements is told the words
that stop those. 配信停止 still stops them, mid-consultation too, and ストップ outside a consultation is
still 配信停止."""

from __future__ import annotations

import pytest

from flows.desk import Reply
from flows.engine import CANCEL_NO, CANCEL_YES
from flows.messages import Text
from storage import Database
from tests.conftest import NOW
from tests.flows.test_desk import TEXTS, Citizen

HINT = TEXTS.get("flow.stop_announcements")
QUESTION = TEXTS.get("flow.cancel_question")


def said(reply: Reply) -> list[str]:
    return [m.text for m in reply.messages if isinstance(m, Text)]


async def subscribe(citizen: Citizen) -> None:
    user = await citizen.user()
    async with citizen.db.transaction() as tx:
        await tx.subscriptions.choose(user.id, "seminar", True, NOW)


async def at_name_question(citizen: Citizen) -> None:
    """Agreed and answered the category and requester type: something would be lost by stopping."""
    await citizen.say("相談する")
    await citizen.tap("yes")
    await citizen.tap("npo")
    await citizen.say("個人")


@pytest.mark.parametrize("word", ["ストップ", "ＳＴＯＰ", "stop", "すとっぷ"])
async def test_stop_at_a_question_asks_to_stop_the_consultation_not_the_announcements(
    db: Database, word: str
) -> None:
    citizen = Citizen(db)
    await at_name_question(citizen)
    reply = await citizen.say(word)
    assert said(reply)[0].startswith(QUESTION), said(reply)
    last = reply.messages[-1]
    assert isinstance(last, Text) and [c.value for c in last.choices] == [CANCEL_YES, CANCEL_NO]
    assert HINT not in said(reply)  # not subscribed: nothing to say about announcements
    user = await citizen.user()
    assert not await db.read.subscriptions.stopped(user.id)
    # The button (or typed はい) stops it.
    stopped = await citizen.tap(CANCEL_YES)
    assert said(stopped)[0] == TEXTS.get("flow.cancelled")
    assert await citizen.conversation() is None


async def test_stop_typed_again_at_the_question_stops_the_consultation(db: Database) -> None:
    citizen = Citizen(db)
    await at_name_question(citizen)
    await citizen.say("ストップ")
    stopped = await citizen.say("ストップ")
    assert said(stopped)[0] == TEXTS.get("flow.cancelled")
    assert await citizen.conversation() is None


async def test_no_keeps_the_consultation_where_it_was(db: Database) -> None:
    citizen = Citizen(db)
    await at_name_question(citizen)
    await citizen.say("ストップ")
    kept = await citizen.say("いいえ")
    assert said(kept)[0] == TEXTS.get("flow.cancel_kept")
    conversation = await citizen.conversation()
    assert conversation is not None and conversation.step == "name"


async def test_a_subscriber_is_told_how_to_stop_announcements_and_keeps_them(db: Database) -> None:
    citizen = Citizen(db)
    await subscribe(citizen)
    await at_name_question(citizen)
    reply = await citizen.say("ストップ")
    assert said(reply)[0] == HINT and said(reply)[1].startswith(QUESTION)
    user = await citizen.user()
    assert not await db.read.subscriptions.stopped(user.id)
    assert await db.read.subscriptions.kinds(user.id) == {"seminar"}


async def test_stop_at_the_first_question_ends_it_at_once_with_the_hint(db: Database) -> None:
    """At the privacy question nothing would be lost: stopped without asking, as キャンセル is."""
    citizen = Citizen(db)
    await subscribe(citizen)
    await citizen.say("相談する")
    reply = await citizen.say("ストップ")
    assert said(reply)[:2] == [HINT, TEXTS.get("flow.cancelled")]
    assert await citizen.conversation() is None
    assert not await db.read.subscriptions.stopped((await citizen.user()).id)


async def test_haishin_teishi_still_stops_announcements_mid_consultation(db: Database) -> None:
    citizen = Citizen(db)
    await subscribe(citizen)
    await at_name_question(citizen)
    reply = await citizen.say("配信停止")
    assert said(reply)[0] == TEXTS.get("announcements.stopped")
    assert await db.read.subscriptions.stopped((await citizen.user()).id)
    conversation = await citizen.conversation()
    assert conversation is not None and conversation.step == "name"  # the consultation goes on


async def test_stop_outside_a_consultation_still_stops_announcements(db: Database) -> None:
    citizen = Citizen(db)
    await subscribe(citizen)
    reply = await citizen.say("ストップ")
    assert said(reply)[0] == TEXTS.get("announcements.stopped")
    assert await db.read.subscriptions.stopped((await citizen.user()).id)
