"""送信取消 (unsend) of a follow-up filed with an open case, end to end: the citizen's text leaves the
database file and the Slack thread (its post replaced, a line for staff), the citizen is sent nothing;
an unsend naming another citizen's message changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.sandbox.line_webhook import text_event, unsend_event
from storage.cases import UNSENT, Case, CaseMessage
from tests.harness import captured_log, event_answered, post_events, wait_for
from tests.line.test_intake_e2e import USER, Citizen
from tests.personal_log import no_personal_data_in_log  # noqa: F401
from tests.slack.staff_desk import settled, staff_desk
from tests.slack.test_desk_e2e import Desk, card_posted, submit_intake
from tests.test_retention import file_bytes

pytestmark = pytest.mark.usefixtures("no_personal_data_in_log")

SECRET = "持病の診断名UNSENT-7c1f"
OTHER = "U_OTHER"


async def followup_in_thread(desk: Desk) -> tuple[Case, CaseMessage]:
    """A consultation with its card posted and a follow-up copied into its thread."""
    citizen = Citizen(desk.bot.base_url, desk.line, desk.bot)
    await submit_intake(citizen)
    case = await card_posted(desk)
    await citizen.type(f"間違えて送りました。{SECRET}")
    await wait_for(lambda: any(SECRET in t for t in desk.thread(case)))
    await settled(desk, case)  # the post's ts recorded
    [message] = await desk.bot.db.read.cases.messages(case.id)
    assert message.line_message_id is not None and message.slack_ts is not None
    return case, message


async def unsend(desk: Desk, user: str, message_id: str) -> None:
    event = unsend_event(user, message_id)
    assert (await post_events(desk.bot.base_url, [event]))[0] == 200
    await wait_for(lambda: event_answered(desk.bot.db.read, user, event))


async def test_an_unsent_followup_leaves_the_file_and_the_thread_and_the_citizen_hears_nothing(
    tmp_path: Path,
) -> None:
    with captured_log(SECRET) as log:
        async with staff_desk(tmp_path, "channel-members") as desk:
            case, message = await followup_in_thread(desk)
            assert message.line_message_id is not None and message.slack_ts is not None
            assert SECRET.encode() in file_bytes(desk.bot.db.path)  # the stored follow-up
            sent_before = len(desk.line.sent_messages(USER))

            await unsend(desk, USER, message.line_message_id)
            await settled(desk, case)

            [kept] = await desk.bot.db.read.cases.messages(case.id)
            assert (kept.id, kept.kind, kept.body, kept.direction) == (message.id, UNSENT, "", "citizen")
            assert SECRET.encode() not in file_bytes(desk.bot.db.path)
            # The thread: the post now reads neutrally, and a line tells staff; nothing quotes the text.
            post = desk.slack.message("C_NPO", message.slack_ts)
            assert (
                post is not None and post["text"] == "（相談者が送信を取り消しました）" and "edited" in post
            )
            thread = desk.thread(case)
            assert not any(SECRET in t for t in thread)
            assert thread[-1].startswith("相談者がメッセージの送信を取り消しました。")
            assert len(desk.line.sent_messages(USER)) == sent_before  # LINE expects no answer
            [entry] = [
                e for e in await desk.bot.db.read.audit.for_subject("case", case.id) if "unsent" in e.action
            ]
            assert entry.actor == "citizen"

            # LINE sending the same unsend again (another event id): already withdrawn, nothing more.
            posts = len(desk.slack.find_calls("chat.postMessage"))
            await unsend(desk, USER, message.line_message_id)
            await settled(desk, case)
            assert len(desk.slack.find_calls("chat.postMessage")) == posts
    assert SECRET not in log.text


async def test_an_unsend_naming_another_citizens_message_changes_nothing(tmp_path: Path) -> None:
    async with staff_desk(tmp_path, "channel-members") as desk:
        case, message = await followup_in_thread(desk)
        assert message.line_message_id is not None and message.slack_ts is not None
        # Another citizen the bot knows (they wrote once), and one it does not know at all.
        hello = text_event(OTHER, "こんにちは", reply_token=desk.line.issue_reply_token(OTHER))
        assert (await post_events(desk.bot.base_url, [hello]))[0] == 200
        await wait_for(lambda: event_answered(desk.bot.db.read, OTHER, hello))
        rows = len(await desk.bot.db.read.outbox.in_order(f"slack:case:{case.id}"))
        sent = len(desk.line.requests)

        await unsend(desk, OTHER, message.line_message_id)
        await unsend(desk, "U_NOBODY", message.line_message_id)

        assert await desk.bot.db.read.cases.messages(case.id) == [message]
        assert len(await desk.bot.db.read.outbox.in_order(f"slack:case:{case.id}")) == rows
        assert any(SECRET in t for t in desk.thread(case))
        assert len(desk.line.requests) == sent
        assert await desk.bot.db.read.users.by_line_id("U_NOBODY") is None  # nothing kept of a stranger


async def test_a_followup_unsent_before_it_reached_the_thread_is_never_posted(tmp_path: Path) -> None:
    async with staff_desk(tmp_path, "channel-members") as desk:
        await submit_intake(Citizen(desk.bot.base_url, desk.line, desk.bot))
        case = await card_posted(desk)
        # Slack refuses the follow-up's post once, so it waits for a retry while the unsend comes in.
        desk.slack.fail_next(500, method="chat.postMessage")
        message = text_event(
            USER, f"間違えて送りました。{SECRET}", reply_token=desk.line.issue_reply_token(USER)
        )
        withdrawn = unsend_event(USER, message["message"]["id"])
        assert (await post_events(desk.bot.base_url, [message, withdrawn]))[0] == 200
        await wait_for(lambda: event_answered(desk.bot.db.read, USER, withdrawn))
        await settled(desk, case)

        [kept] = await desk.bot.db.read.cases.messages(case.id)
        assert (kept.kind, kept.body, kept.slack_ts) == (UNSENT, "", None)
        thread = desk.thread(case)
        assert not any(SECRET in t for t in thread)
        assert thread[-1].startswith("相談者がメッセージの送信を取り消しました。")
        assert SECRET.encode() not in file_bytes(desk.bot.db.path)
