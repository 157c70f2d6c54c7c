"""Half an emoji typed by a citizen (a lone surrogate, which LINE sends as a `\\ud83d` escape: LINE cuts
nothing, but a client that cuts text by UTF-16 units can send one) goes through the real server: kept
as U+FFFD, and the other events of the same webhook are handled as if it were not there."""

from __future__ import annotations

import pytest

from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.line_webhook import signed_headers, text_event, webhook_body
from tests.harness import LINE_SECRET, event_answered, post_raw, wait_for
from tests.line.test_intake_e2e import USER, Citizen
from tests.personal_log import no_personal_data_in_log  # noqa: F401

pytestmark = pytest.mark.usefixtures("no_personal_data_in_log")

HALF_EMOJI = "\ud83d"
TARO = "U_TARO"


async def test_a_citizens_text_with_half_an_emoji_is_kept_and_the_webhook_goes_through(
    bot: Runtime, line: FakeLine
) -> None:
    line.set_profile(TARO, "鈴木 太郎")
    citizen = Citizen(bot.base_url, line, bot)
    await citizen.type("相談する")
    await citizen.tap("yes")
    await citizen.tap("npo")
    await citizen.tap("個人")
    await citizen.type("山田 花子")
    await citizen.type("やまだ はなこ")
    await citizen.tap("line")
    # The matter, with half an emoji, in one webhook with another citizen's question.
    matter = text_event(USER, f"設立の相談です{HALF_EMOJI}。", reply_token=line.issue_reply_token(USER))
    other = text_event(TARO, "開館時間", reply_token=line.issue_reply_token(TARO))
    body = webhook_body([matter, other])
    assert b"\\ud83d" in body  # as LINE sends it: an escape, the body itself valid UTF-8
    assert (await post_raw(bot.base_url, body, signed_headers(LINE_SECRET, body)))[0] == 200
    await wait_for(lambda: event_answered(bot.db.read, USER, matter))
    await wait_for(lambda: event_answered(bot.db.read, TARO, other))
    assert any("開館" in m.message.get("text", "") for m in line.sent_messages(TARO))

    await citizen.tap("flow:done")
    await citizen.tap("flow:skip")
    answer = await citizen.tap("flow:confirm")
    assert any("受付番号" in m.get("text", "") for m in answer)
    [case] = await bot.db.read.cases.with_status("new")
    assert case.body == "設立の相談です\ufffd。"
    assert await bot.db.read.inbox.count("failed") == 0
