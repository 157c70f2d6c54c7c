"""A closing message (対応完了 with 相談者へのひとこと) goes to the citizen on LINE, so it is copied into the
case thread like a reply written in the modal: once, even when Slack retries the submission or staff
press 送信 twice; closing without a message copies nothing."""

from __future__ import annotations

from bot.sandbox.slack_signing import view_submission
from tests.harness import wait_for
from tests.line.test_intake_e2e import USER, Citizen
from tests.slack.test_desk_e2e import STAFF, Desk, card_posted, desk, submit_intake

__all__ = ["desk"]  # the fixture, shared with the desk tests

MESSAGE = "<!channel> *またいつでも* ご相談ください。"


async def close_with(desk: Desk, message: str, *, times: int = 1) -> list[str]:
    """Close the case through the modal (submitted `times` times, as a retry or a double click) and
    return the thread once the citizen's message has been echoed."""
    citizen = Citizen(desk.bot.base_url, desk.line)
    await submit_intake(citizen)
    case = await card_posted(desk)
    assert (await desk.press(case, "case_close"))[0] == 200
    [opened] = [v for v in desk.slack.views if v.action == "open"]
    body = view_submission(
        STAFF, "case_close_submit", {"message": {"text": message}},
        opened.view["private_metadata"], opened.view_id,
    )  # fmt: skip
    for attempt in range(times):
        assert (await desk.post(body, retry_num=attempt or None))[0] == 200
    await wait_for(lambda: "対応を完了しました" in desk.line.sent_messages(USER)[-1].message.get("text", ""))
    await wait_for(lambda: "✅ 相談者に送信しました。" in desk.thread(case))
    return desk.thread(case)


async def test_the_closing_message_is_copied_into_the_thread_once(desk: Desk) -> None:
    thread = await close_with(desk, MESSAGE, times=2)
    assert desk.line.sent_messages(USER)[-1].message["text"].endswith(MESSAGE)  # LINE: as typed
    copy = f"<@{STAFF}> さんが返信しました：\n&lt;!channel&gt; ＊またいつでも＊ ご相談ください。"
    assert thread.count(copy) == 1, thread
    assert thread.index(f"<@{STAFF}> さんが対応完了にしました。") < thread.index(copy)
    for message in desk.slack.messages:
        assert desk.slack.alarms(message, allowed={f"<@{STAFF}>"}) == []


async def test_closing_without_a_message_copies_nothing(desk: Desk) -> None:
    thread = await close_with(desk, "   ")
    assert not any("返信しました" in t for t in thread), thread
    assert f"<@{STAFF}> さんが対応完了にしました。" in thread
