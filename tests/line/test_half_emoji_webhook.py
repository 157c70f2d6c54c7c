"""Half an emoji typed by a citizen (a lone surrogate, which LINE sends as a `\\ud83d` escape: LINE cuts
nothing, but a client that cuts text by UTF-16 units can send one) goes through the real server: kept
as U+FFFD, and the other events of the same webhook are handled as if it were not there."""

from __future__ import annotations

import pytest

from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.line_webhook import signed_headers, text_event, webhook_body
from storage.cases import NewCase
from tests.harness import LINE_SECRET, event_answered, post_raw, wait_for
from tests.line.test_intake_e2e import USER
from tests.personal_log import no_personal_data_in_log  # noqa: F401

pytestmark = pytest.mark.usefixtures("no_personal_data_in_log")

HALF_EMOJI = "\ud83d"
TARO = "U_TARO"


async def test_a_citizens_text_with_half_an_emoji_is_kept_and_the_webhook_goes_through(
    bot: Runtime, line: FakeLine
) -> None:
    line.set_profile(TARO, "鈴木 太郎")
    async with bot.db.transaction() as tx:
        user = await tx.users.ensure(USER, bot.clock())
        new = NewCase(user.id, "general", "個人", "山田 花子", "line", "NPOを立ち上げたいです。")
        case = await tx.cases.create(new, bot.clock(), 2026)
    # A follow-up to the open case, with half an emoji, in one webhook with another citizen's question.
    followup = text_event(USER, f"領収書を送ります{HALF_EMOJI}。", reply_token=line.issue_reply_token(USER))
    other = text_event(TARO, "開館時間", reply_token=line.issue_reply_token(TARO))
    body = webhook_body([followup, other])
    assert b"\\ud83d" in body  # as LINE sends it: an escape, the body itself valid UTF-8
    assert (await post_raw(bot.base_url, body, signed_headers(LINE_SECRET, body)))[0] == 200
    await wait_for(lambda: event_answered(bot.db.read, USER, followup))
    await wait_for(lambda: event_answered(bot.db.read, TARO, other))
    assert any(case.number in m.message.get("text", "") for m in line.sent_messages(USER))
    assert any("開館" in m.message.get("text", "") for m in line.sent_messages(TARO))
    assert [m.body for m in await bot.db.read.cases.messages(case.id)] == ["領収書を送ります\ufffd。"]
    assert await bot.db.read.inbox.count("failed") == 0
