"""Several images sent at once (an image set) get one answer, each image handled as before.

LINE sends one image event per image, each naming the set (`imageSet: {id, index, total}`), in one
webhook or several, in any order, and may redeliver one. Through the real server: the first image of
a set handled answers, the others are attached and forwarded in silence; a single image is answered
as always.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.line_webhook import image_event, new_image_set_id
from storage.cases import Case, NewCase
from storage.conversations import Conversation
from tests.harness import event_answered, post_events, settings_for, wait_for
from tests.line.test_citizen_events_e2e import add_event
from tests.line.test_intake_e2e import USER, Citizen
from tests.personal_log import no_personal_data_in_log  # noqa: F401
from tests.slack.staff_desk import case_with_card, settled, staff_desk

pytestmark = pytest.mark.usefixtures("no_personal_data_in_log")

Event = dict[str, Any]
ADDED = "受付番号 {number} のご相談に添えて、担当者にお渡しします。"
TEXT_ADDED = "担当者にお伝えしました（受付番号 {number}）。"
MEDIA_LATER = "恐れ入りますが、入力の途中に届いた画像やファイルは保存していません。"
NOT_KEPT_SET = "お送りいただいた画像は保存していません"


def image_set(line: FakeLine, total: int, set_id: str | None = None) -> list[Event]:
    """The events of `total` images sent at once, in index order, each with its own reply token."""
    set_id = set_id or new_image_set_id()
    return [
        image_event(
            USER,
            message_id=f"m-{set_id[:6]}-{index}",
            reply_token=line.issue_reply_token(USER),
            image_set=(set_id, index, total),
        )
        for index in range(1, total + 1)
    ]


async def deliver(bot: Runtime, line: FakeLine, *webhooks: Sequence[Event]) -> list[str]:
    """Post each webhook in turn and wait until all their events are handled and every answer is
    accepted by LINE; the texts the citizen received meanwhile."""
    before = len(line.sent_messages(USER))
    for events in webhooks:
        assert (await post_events(bot.base_url, list(events)))[0] == 200
    for event in (e for events in webhooks for e in events):
        await wait_for(lambda event=event: event_answered(bot.db.read, USER, event))
    return [str(m.message.get("text", "")) for m in line.sent_messages(USER)[before:]]


async def open_cases(bot: Runtime, count: int) -> list[Case]:
    async with bot.db.transaction() as tx:
        user = await tx.users.ensure(USER, bot.clock())
        new = NewCase(user.id, "general", "個人", "山田 花子", "line", "NPOを立ち上げたいです。")
        return [await tx.cases.create(new, bot.clock(), 2026) for _ in range(count)]


async def images_of(bot: Runtime, case: Case) -> list[str]:
    return [m.line_message_id or "" for m in await bot.db.read.cases.messages(case.id) if m.kind == "image"]


async def test_five_images_sent_at_once_are_all_forwarded_with_one_answer(tmp_path: Path) -> None:
    async with staff_desk(tmp_path, "staff-list") as desk:
        case = await case_with_card(desk)
        events = image_set(desk.line, 5)
        pictures = [b"\xff\xd8\xff" + bytes([n]) * 64 for n in range(5)]
        for event, picture in zip(events, pictures, strict=True):
            desk.line.set_content(event["message"]["id"], picture)
        said = await deliver(desk.bot, desk.line, events)
        assert said == [ADDED.format(number=case.number)]
        # Every image is still kept with the case and lands in its thread, as a single one does.
        assert await images_of(desk.bot, case) == [e["message"]["id"] for e in events]
        await wait_for(lambda: sum(u.completed for u in desk.slack.uploads) == 5)
        await settled(desk, case)
        assert {(u.channel, u.thread_ts) for u in desk.slack.uploads} == {("C_NPO", case.slack_ts)}
        assert sorted(u.data or b"" for u in desk.slack.uploads) == sorted(pictures)


async def test_a_set_split_over_webhooks_out_of_order_and_redelivered_is_answered_once(
    bot: Runtime, line: FakeLine
) -> None:
    [case] = await open_cases(bot, 1)
    first, second, third, fourth = image_set(line, 4)
    redelivered = {**third, "deliveryContext": {"isRedelivery": True}}
    said = await deliver(bot, line, [third], [fourth, first], [redelivered], [second])
    assert said == [ADDED.format(number=case.number)]
    assert sorted(await images_of(bot, case)) == sorted(
        e["message"]["id"] for e in (first, second, third, fourth)
    )
    # The same set sent again later (a member LINE redelivers under a new event) stays silent too.
    again = image_event(
        USER, reply_token=line.issue_reply_token(USER), image_set=(first["message"]["imageSet"]["id"], 2, 4)
    )
    assert await deliver(bot, line, [again]) == []
    assert len(await images_of(bot, case)) == 5


async def test_a_set_split_by_a_restart_is_answered_once(tmp_path: Path, line: FakeLine) -> None:
    """What was answered is in the database, written with the answer: a new process knows it."""
    async with Runtime(settings_for(tmp_path, line.base_url)) as bot:
        [case] = await open_cases(bot, 1)
        events = image_set(line, 3)
        assert await deliver(bot, line, events[:1]) == [ADDED.format(number=case.number)]
    async with Runtime(settings_for(tmp_path, line.base_url)) as bot:
        assert await deliver(bot, line, events[1:]) == []
        assert await images_of(bot, case) == [e["message"]["id"] for e in events]


async def test_a_set_of_which_only_some_images_arrive_is_still_answered(bot: Runtime, line: FakeLine) -> None:
    [case] = await open_cases(bot, 1)
    events = image_set(line, 5)
    said = await deliver(bot, line, [events[3]], [events[1]])
    assert said == [ADDED.format(number=case.number)]
    assert await images_of(bot, case) == [events[3]["message"]["id"], events[1]["message"]["id"]]


async def test_each_set_and_each_single_image_gets_its_own_answer(bot: Runtime, line: FakeLine) -> None:
    [case] = await open_cases(bot, 1)
    added = ADDED.format(number=case.number)
    one, two = image_set(line, 3), image_set(line, 2)
    # Two sets interleaved (two phones, or a second set sent before the first finished).
    said = await deliver(bot, line, [one[0], two[1]], [one[2], two[0], one[1]])
    assert said == [added, added]
    singles = [image_event(USER, reply_token=line.issue_reply_token(USER)) for _ in range(2)]
    assert await deliver(bot, line, singles) == [added, added]
    # An image set without an index (LINE for Android 11.15 and earlier) is one set all the same.
    plain = image_set(line, 2)
    for event in plain:
        del event["message"]["imageSet"]["index"]
    assert await deliver(bot, line, plain) == [added]
    assert len(await images_of(bot, case)) == 9


async def test_a_set_during_the_intake_is_answered_once_even_with_text_between(
    bot: Runtime, line: FakeLine
) -> None:
    citizen = Citizen(bot.base_url, line, bot)
    for step in ("相談する", "yes", "general", "個人"):
        await (citizen.type(step) if step == "相談する" else citizen.tap(step))
    first, second, third = image_set(line, 3)
    said = await deliver(bot, line, [first])
    assert said[0].startswith(MEDIA_LATER) and "お名前" in said[-1]
    # The citizen types the answer while the other images are still uploading: the answer is taken,
    # and the rest of the set, arriving after it, says nothing more.
    assert "ふりがな" in (await citizen.type("山田 花子"))[-1]["text"]
    assert await deliver(bot, line, [third, second]) == []
    assert "ご連絡の方法" in (await citizen.type("やまだ はなこ"))[-1]["text"]


async def test_a_set_without_an_open_case_is_answered_once_and_kept_nowhere(
    bot: Runtime, line: FakeLine
) -> None:
    said = await deliver(bot, line, image_set(line, 3))
    assert len(said) == 1 and NOT_KEPT_SET in said[0]
    # A single image is answered as before.
    [single] = await deliver(bot, line, [image_event(USER, reply_token=line.issue_reply_token(USER))])
    assert "この画像は保存していません" in single
    async with bot.db.transaction() as tx:
        assert await tx.cases.for_user((await tx.users.ensure(USER, bot.clock())).id) == []


async def test_a_set_with_several_open_cases_asks_once_and_files_every_image(
    bot: Runtime, line: FakeLine
) -> None:
    older, newer = await open_cases(bot, 2)
    events = image_set(line, 3)
    said = await deliver(bot, line, events[:1], events[1:])
    assert len(said) == 1 and said[0].startswith("どのご相談")
    filed = await Citizen(bot.base_url, line, bot).type("1")
    assert [m["text"] for m in filed] == [ADDED.format(number=older.number)]
    assert await images_of(bot, older) == [e["message"]["id"] for e in events]
    assert await images_of(bot, newer) == []


async def test_after_a_set_a_consultation_starts_as_usual_and_the_rest_of_the_set_stays_silent(
    bot: Runtime, line: FakeLine
) -> None:
    """What is remembered of a set is no conversation: 相談する starts the intake, and the rest of the
    set arriving at its first question is not answered again."""
    first, second = image_set(line, 2)
    assert len(await deliver(bot, line, [first])) == 1
    citizen = Citizen(bot.base_url, line, bot)
    assert "同意" in (await citizen.type("相談する"))[-1]["text"]
    assert await deliver(bot, line, [second]) == []
    assert "総合相談" in (await citizen.tap("yes"))[-1]["text"]


async def test_a_deletion_on_request_keeps_nothing_of_the_sets(bot: Runtime, line: FakeLine) -> None:
    await open_cases(bot, 1)
    first, _ = image_set(line, 2)
    await deliver(bot, line, [first])
    citizen = Citizen(bot.base_url, line, bot)
    await citizen.type("削除")
    await citizen.tap("delete:yes")
    user = await bot.db.read.users.by_line_id(USER)
    assert user is not None and await bot.db.read.conversations.get(user.id) is None


async def test_after_a_set_a_list_shown_is_answered_by_typing(bot: Runtime, line: FakeLine) -> None:
    """The events list is kept for a typed answer only when no conversation is under way: what is
    remembered of a set must not count as one."""
    event = await add_event(bot, "salon-1", capacity=10)
    await deliver(bot, line, image_set(line, 2)[:1])
    citizen = Citizen(bot.base_url, line, bot)
    assert event.title in str(await citizen.type("イベント"))
    details = str(await citizen.type("1"))
    assert event.title in details and "申し込む" in details


async def test_an_overlong_set_id_is_not_kept_and_each_image_is_answered(
    bot: Runtime, line: FakeLine
) -> None:
    """A set id is LINE's 64 hex digits; a forged one of kilobytes would bloat the citizen's row."""
    [case] = await open_cases(bot, 1)
    said = await deliver(bot, line, image_set(line, 2, set_id="A" * 5000))
    assert said == [ADDED.format(number=case.number)] * 2
    user = await bot.db.read.users.by_line_id(USER)
    assert user is not None and await bot.db.read.conversations.get(user.id) is None


async def conversation_of(bot: Runtime) -> Conversation | None:
    user = await bot.db.read.users.by_line_id(USER)
    assert user is not None
    return await bot.db.read.conversations.get(user.id)


async def test_the_rest_of_a_set_after_the_which_case_answer_goes_with_the_case_chosen(
    tmp_path: Path, line: FakeLine
) -> None:
    """Two cases open (review 41, D7): the first image of a set asks which case, the citizen answers, and the rest of
    the set arrives after the answer (a slow upload), some of it after a restart. It goes with the
    case chosen, in silence: no which-case question held unseen, nothing left for the idle sweep to
    file with the newest case."""
    first, second, third, fourth = image_set(line, 4)
    async with Runtime(settings_for(tmp_path, line.base_url)) as bot:
        older, newer = await open_cases(bot, 2)
        [asked] = await deliver(bot, line, [first], [third])  # the third while the question is open
        assert asked.startswith("どのご相談")
        filed = await Citizen(bot.base_url, line, bot).type("1")
        assert [m["text"] for m in filed] == [ADDED.format(number=older.number)]
        assert await deliver(bot, line, [fourth]) == []
        assert await images_of(bot, older) == [e["message"]["id"] for e in (first, third, fourth)]
    async with Runtime(settings_for(tmp_path, line.base_url)) as bot:
        assert await deliver(bot, line, [second]) == []
        assert await images_of(bot, older) == [e["message"]["id"] for e in (first, third, fourth, second)]
        assert await images_of(bot, newer) == []
        conversation = await conversation_of(bot)
        assert conversation is None or conversation.flow == "image_sets"
        # The citizen's next message is theirs alone: asked about, with nothing of the set held.
        assert (await Citizen(bot.base_url, line, bot).type("よろしくお願いします"))[-1]["text"].startswith(
            "どのご相談"
        )
        conversation = await conversation_of(bot)
        assert conversation is not None and [h["kind"] for h in conversation.data["held"]] == ["text"]


async def test_the_rest_of_a_set_goes_with_its_case_while_another_message_is_asked_about(
    bot: Runtime, line: FakeLine
) -> None:
    """After the set was filed, the citizen types something and is asked which case it is for; an
    image of the set arriving then goes with the set's case, and the question stays the text's."""
    older, newer = await open_cases(bot, 2)
    first, second = image_set(line, 2)
    await deliver(bot, line, [first])
    citizen = Citizen(bot.base_url, line, bot)
    await citizen.type("1")
    assert (await citizen.type("領収書の写真です"))[-1]["text"].startswith("どのご相談")
    assert await deliver(bot, line, [second]) == []
    assert await images_of(bot, older) == [first["message"]["id"], second["message"]["id"]]
    assert [m["text"] for m in await citizen.type("2")] == [TEXT_ADDED.format(number=newer.number)]
    assert [(m.kind, m.body) for m in await bot.db.read.cases.messages(newer.id)] == [
        ("text", "領収書の写真です")
    ]


async def test_the_rest_of_a_set_whose_images_were_not_sent_asks_again(bot: Runtime, line: FakeLine) -> None:
    """The citizen cancelled the question for the set's first image; the rest of the set arriving
    then is asked about where the citizen sees it, once, rather than held for a question not shown."""
    older, newer = await open_cases(bot, 2)
    first, second, third = image_set(line, 3)
    await deliver(bot, line, [first])
    await Citizen(bot.base_url, line, bot).tap("flow:cancel")
    said = await deliver(bot, line, [second], [third])
    assert len(said) == 1 and said[0].startswith("どのご相談")
    filed = await Citizen(bot.base_url, line, bot).type("2")
    assert [m["text"] for m in filed] == [ADDED.format(number=newer.number)]
    assert await images_of(bot, newer) == [second["message"]["id"], third["message"]["id"]]
    assert await images_of(bot, older) == []


async def test_a_deletion_keeps_nothing_of_a_set_kept_with_a_case(bot: Runtime, line: FakeLine) -> None:
    await open_cases(bot, 2)
    first, second = image_set(line, 2)
    await deliver(bot, line, [first])
    citizen = Citizen(bot.base_url, line, bot)
    await citizen.type("1")
    await citizen.type("削除")
    await citizen.tap("delete:yes")
    assert await conversation_of(bot) is None
    # The rest of the set after the deletion is an image from a citizen without a case: not kept.
    [said] = await deliver(bot, line, [second])
    assert NOT_KEPT_SET in said
