"""送信取消 (unsend) of what the bot never filed with a case: a message held for the which-case question
is dropped (not filed, and gone from the file), and an unsend of anything never stored (a text with no
case, a sticker) does nothing at all, the citizen hearing nothing either way."""

from __future__ import annotations

import pytest

from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.line_webhook import Event, sticker_event, text_event, unsend_event
from flows.desk import FOLLOWUP_FLOW
from storage.cases import NewCase
from tests.harness import event_answered, post_events, wait_for
from tests.line.test_intake_e2e import USER, Citizen
from tests.personal_log import no_personal_data_in_log  # noqa: F401
from tests.test_retention import file_bytes

pytestmark = pytest.mark.usefixtures("no_personal_data_in_log")

MISTAKE = "別の人の住所UNSENT-41aa"


async def send(bot: Runtime, event: Event) -> None:
    assert (await post_events(bot.base_url, [event]))[0] == 200
    await wait_for(lambda: event_answered(bot.db.read, USER, event))


async def held_ids(bot: Runtime) -> list[str]:
    conversation = await bot.db.read.conversations.get(1)
    assert conversation is not None and conversation.flow == FOLLOWUP_FLOW
    return [str(h["message_id"]) for h in conversation.data["held"]]


async def test_an_unsent_message_held_at_the_which_case_question_is_not_filed(
    bot: Runtime, line: FakeLine
) -> None:
    async with bot.db.transaction() as tx:
        user = await tx.users.ensure(USER, bot.clock())
        assert user.id == 1
        new = NewCase(user.id, "general", "個人", "山田 花子", "line", "NPOを立ち上げたいです。")
        first, second = [await tx.cases.create(new, bot.clock(), 2026) for _ in range(2)]
    citizen = Citizen(bot.base_url, line, bot)
    mistake = text_event(USER, MISTAKE, reply_token=line.issue_reply_token(USER))
    await send(bot, mistake)  # asked which case
    await citizen.type("追加のメッセージです。")  # held too, asked again
    held = await held_ids(bot)
    assert len(held) == 2 and held[0] == mistake["message"]["id"]
    assert MISTAKE.encode() in file_bytes(bot.db.path)
    sent = len(line.sent_messages(USER))

    await send(bot, unsend_event(USER, mistake["message"]["id"]))

    assert len(line.sent_messages(USER)) == sent
    assert len(await held_ids(bot)) == 1  # the question stands for what is left
    await wait_for(lambda: MISTAKE.encode() not in file_bytes(bot.db.path))  # checkpointed after the commit
    await citizen.type("1")
    assert [m.body for m in await bot.db.read.cases.messages(first.id)] == ["追加のメッセージです。"]
    assert await bot.db.read.cases.messages(second.id) == []


async def test_the_only_held_message_unsent_ends_the_question(bot: Runtime, line: FakeLine) -> None:
    async with bot.db.transaction() as tx:
        user = await tx.users.ensure(USER, bot.clock())
        new = NewCase(user.id, "general", "個人", "山田 花子", "line", "NPOを立ち上げたいです。")
        cases = [await tx.cases.create(new, bot.clock(), 2026) for _ in range(2)]
    mistake = text_event(USER, MISTAKE, reply_token=line.issue_reply_token(USER))
    await send(bot, mistake)
    sent = len(line.sent_messages(USER))

    await send(bot, unsend_event(USER, mistake["message"]["id"]))

    assert len(line.sent_messages(USER)) == sent
    assert await bot.db.read.conversations.get(user.id) is None
    assert [await bot.db.read.cases.messages(c.id) for c in cases] == [[], []]
    # The WAL is checkpointed right after the commit the test has seen, not before it.
    await wait_for(lambda: MISTAKE.encode() not in file_bytes(bot.db.path))


async def test_an_unsend_of_what_was_never_stored_does_nothing(bot: Runtime, line: FakeLine) -> None:
    citizen = Citizen(bot.base_url, line, bot)
    await citizen.type("こんにちは")  # known to the bot, no case
    outside = text_event(USER, "ひとりごと", reply_token=line.issue_reply_token(USER))
    sticker = sticker_event(USER, reply_token=line.issue_reply_token(USER))
    await send(bot, outside)
    await send(bot, sticker)
    rows = len(await bot.db.read.outbox.in_order(f"line:{USER}"))
    user = await bot.db.read.users.by_line_id(USER)
    assert user is not None

    for event in (outside, sticker):
        await send(bot, unsend_event(USER, event["message"]["id"]))

    assert len(await bot.db.read.outbox.in_order(f"line:{USER}")) == rows  # nothing said, nothing queued
    assert await bot.db.read.users.by_line_id(USER) == user
    assert await bot.db.read.conversations.get(user.id) is None
    assert await bot.db.read.cases.for_user(user.id) == []
