"""A button's value (a postback) at a question the citizen answers by typing is no answer.

A quick double tap sends two postbacks in one webhook, and an old button of an earlier question
stays tappable in the chat: neither may become the text the citizen was asked to type (a second
企業 as the organisation's name, the category id `collaboration` as the citizen's name). The
question is asked again, so a duplicate tap is harmless; typing still answers it.
"""

from __future__ import annotations

from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.line_webhook import postback_event
from flows.texts import Texts
from tests.harness import event_answered, post_events, wait_for
from tests.line.test_intake_e2e import USER, Citizen

TEXTS = Texts.load()


async def answers(bot: Runtime) -> dict[str, object]:
    user = await bot.db.read.users.by_line_id(USER)
    assert user is not None
    conversation = await bot.db.read.conversations.get(user.id)
    assert conversation is not None
    return dict(conversation.data["answers"])


async def test_a_double_tap_on_the_requester_type_asks_the_organisation_name_again(
    bot: Runtime, line: FakeLine
) -> None:
    citizen = Citizen(bot.base_url, line, bot)
    await citizen.type("相談する")
    await citizen.tap("yes")
    await citizen.tap("general")
    first = postback_event(USER, "企業", reply_token=line.issue_reply_token(USER))
    second = postback_event(USER, "企業", reply_token=line.issue_reply_token(USER))
    assert (await post_events(bot.base_url, [first, second]))[0] == 200
    await wait_for(lambda: event_answered(bot.db.read, USER, second))

    asked = TEXTS.get("intake.organisation.prompt")
    assert line.sent_texts(USER)[-2:] == [asked, asked]  # each tap answered by the same question
    assert "organisation" not in await answers(bot)

    said = await citizen.type("みずべの会")
    assert said[-1]["text"] == TEXTS.get("intake.name.prompt_organisation")
    assert (await answers(bot))["organisation"] == "みずべの会"


async def test_an_old_category_button_at_the_name_question_is_no_name(bot: Runtime, line: FakeLine) -> None:
    citizen = Citizen(bot.base_url, line, bot)
    await citizen.type("相談する")
    await citizen.tap("yes")
    await citizen.tap("general")
    asked = await citizen.tap("個人")

    assert await citizen.tap("collaboration") == asked  # the name question again, nothing stored
    assert "name" not in await answers(bot)

    said = await citizen.type("山田 花子")
    assert said[-1]["text"].startswith(TEXTS.get("intake.furigana.prompt"))
    assert (await answers(bot))["name"] == "山田 花子"
