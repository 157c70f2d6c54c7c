"""A page number of more than 4,300 digits (int() refuses it; LINE allows 5,000 characters) typed as
`events:…`, `registrations:…`, `subs:page:…` or, mid-intake, `flow:page:…` is no page: the citizen
gets the usual answer, never an exception that fails the event. Signed webhooks, the real SDK and
the fake LINE platform."""

from __future__ import annotations

from typing import Any

import pytest

from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.line_webhook import text_event
from tests.harness import event_answered, post_events, wait_for
from tests.line.test_intake_e2e import USER, Citizen
from tests.personal_log import no_personal_data_in_log  # noqa: F401

pytestmark = pytest.mark.usefixtures("no_personal_data_in_log")

DIGITS = "9" * 4400


async def typed(bot: Runtime, line: FakeLine, text: str) -> list[dict[str, Any]]:
    """What the citizen reads after typing `text`; fails when its event failed (not only slowly)."""
    before = len(line.sent_messages(USER))
    event = text_event(USER, text, reply_token=line.issue_reply_token(USER))
    assert (await post_events(bot.base_url, [event]))[0] == 200

    async def settled() -> bool:
        rows = await bot.db.read.inbox.for_key(f"line:{USER}")
        return any(r.event_id == event["webhookEventId"] and r.status != "pending" for r in rows)

    await wait_for(settled)
    [row] = [
        r for r in await bot.db.read.inbox.for_key(f"line:{USER}") if r.event_id == event["webhookEventId"]
    ]
    assert (row.status, row.error) == ("done", None)
    await wait_for(lambda: event_answered(bot.db.read, USER, event))
    return [m.message for m in line.sent_messages(USER)[before:]]


@pytest.mark.parametrize(
    ("text", "usual"),
    [
        (f"events:{DIGITS}", "イベント"),
        (f"registrations:{DIGITS}", "申込状況"),
        (f"subs:page:{DIGITS}", "配信設定"),
    ],
)
async def test_a_page_too_long_for_int_is_the_first_page(
    bot: Runtime, line: FakeLine, text: str, usual: str
) -> None:
    answer = await typed(bot, line, text)
    assert answer and answer == await typed(bot, line, usual)


async def test_a_page_too_long_for_int_mid_intake_asks_the_question_again(
    bot: Runtime, line: FakeLine
) -> None:
    await Citizen(bot.base_url, line, bot).type("相談する")
    answer = await typed(bot, line, f"flow:page:{DIGITS}")
    assert answer and answer == await typed(bot, line, "flow:page:x")  # as any other non-number
