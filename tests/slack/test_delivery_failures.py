"""A message that does not reach the citizen is reported in the case thread in Japanese, with what to do."""

from __future__ import annotations

from bot.delivery import Final, Retry
from bot.sandbox.line_webhook import unfollow_event
from bot.sandbox.slack_signing import event_callback, message_event
from bot.slack.desk import not_sent_line
from flows.texts import Texts
from tests.harness import post_events, wait_for
from tests.line.test_intake_e2e import USER, Citizen
from tests.slack.test_desk_e2e import STAFF, Desk, card_posted, desk, submit_intake

__all__ = ["desk"]  # the fixture, shared with the desk tests

BLOCKED = "相談者がLINEアカウントをブロックしています。電話かメールでご連絡ください。"


async def test_a_reply_to_a_citizen_who_blocked_the_account_says_so_and_what_to_do(desk: Desk) -> None:
    await submit_intake(Citizen(desk.bot.base_url, desk.line))
    case = await card_posted(desk)
    assert (await post_events(desk.bot.base_url, [unfollow_event(USER)]))[0] == 200

    async def unfollowed() -> bool:
        user = await desk.bot.db.read.users.by_line_id(USER)
        return user is not None and not user.following

    await wait_for(unfollowed)
    sent = len(desk.line.sent_messages(USER))
    answer = event_callback(
        message_event("C_NPO", STAFF, "返信:書類をご用意しました。", thread_ts=case.slack_ts)
    )
    assert (await desk.post(answer))[0] == 200
    await wait_for(lambda: any(BLOCKED in t for t in desk.thread(case)))
    [line] = [t for t in desk.thread(case) if BLOCKED in t]
    assert line.startswith("⚠️ 相談者に届いていません。")
    assert line.endswith("（IT担当向け：unfollowed）")  # the raw reason, short, at the end
    assert len(desk.line.sent_messages(USER)) == sent


def test_each_failure_gets_its_own_advice() -> None:
    texts = Texts.load()
    monthly = not_sent_line(Final("monthly_limit: You have reached your monthly limit."), texts)
    assert "送信上限" in monthly and "電話かメール" in monthly
    refused = not_sent_line(Final("HTTP 400: The request body has 1 error(s) " + "x" * 300), texts)
    assert "受け付けませんでした" in refused and len(refused) < 250
    assert refused.endswith("…）")
    retries = not_sent_line(Retry("HTTP 503: Service Unavailable"), texts)
    assert "何度試しても" in retries and "retries exhausted: HTTP 503" in retries
    escaped = not_sent_line(Final("HTTP 400: <!channel>"), texts)
    assert "<!channel>" not in escaped and "&lt;!channel&gt;" in escaped
