"""The fake Slack reads history as Slack does (the deletion of a citizen's data searches it): through
the real SDK client, conversations.history lists a channel's top-level messages newest first within
oldest/latest (inclusive only when asked), conversations.replies a thread with its root first; both
page with a cursor, and show message metadata only with include_all_metadata."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox.fake_slack import FakeSlack

TAG = {"event_type": "madoguchi_case_card", "event_payload": {"case_id": 7}}


async def test_history_pages_newest_first_within_the_window() -> None:
    async with FakeSlack() as slack:
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
        posted = [
            (await client.chat_postMessage(channel="C1", text=f"m{i}", metadata=TAG))["ts"] for i in range(5)
        ]
        await client.chat_postMessage(channel="C1", thread_ts=posted[0], text="a reply")  # not top-level
        await client.chat_postMessage(channel="C2", text="elsewhere")

        seen: list[str] = []
        cursor = None
        while True:
            page = await client.conversations_history(
                channel="C1", oldest=posted[1], latest=posted[4], inclusive=True, limit=2, cursor=cursor
            )
            seen += [m["ts"] for m in page["messages"]]
            assert all("metadata" not in m for m in page["messages"])  # not asked for
            cursor = page["response_metadata"]["next_cursor"]
            if not cursor:
                assert page["has_more"] is False
                break
        assert seen == posted[4:0:-1]

        exclusive = await client.conversations_history(channel="C1", oldest=posted[1], latest=posted[4])
        assert [m["ts"] for m in exclusive["messages"]] == [posted[3], posted[2]]
        tagged = await client.conversations_history(channel="C1", include_all_metadata=True, limit=1)
        assert tagged["messages"][0]["metadata"] == TAG


async def test_replies_list_the_thread_root_first_on_every_page() -> None:
    async with FakeSlack() as slack:
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
        root = (await client.chat_postMessage(channel="C1", text="card"))["ts"]
        replies = [
            (await client.chat_postMessage(channel="C1", thread_ts=root, text=f"r{i}", metadata=TAG))["ts"]
            for i in range(3)
        ]
        first = await client.conversations_replies(channel="C1", ts=root, limit=2, include_all_metadata=True)
        assert [m["ts"] for m in first["messages"]] == [root, *replies[:2]]
        assert first["messages"][1]["metadata"] == TAG and first["has_more"] is True
        cursor = first["response_metadata"]["next_cursor"]
        second = await client.conversations_replies(channel="C1", ts=root, limit=2, cursor=cursor)
        assert [m["ts"] for m in second["messages"]] == [root, replies[2]]
        assert "metadata" not in second["messages"][1]
        # A reply's ts names its thread.
        via_reply = await client.conversations_replies(channel="C1", ts=replies[1])
        assert [m["ts"] for m in via_reply["messages"]] == [root, *replies]


@pytest.mark.parametrize(
    ("method", "arguments", "error"),
    [
        ("conversations.replies", {"channel": "C1", "ts": "1.000001"}, "thread_not_found"),
        ("conversations.history", {"channel": "C1", "cursor": "made-up"}, "invalid_cursor"),
        ("conversations.history", {"channel": "C1", "latest": "yesterday"}, "invalid_ts_latest"),
        ("chat.postMessage", {"channel": "C1", "text": "x", "metadata": {"event_type": "a b"}}, "invalid_metadata_format"),
    ],
)  # fmt: skip
async def test_what_slack_refuses(method: str, arguments: dict[str, object], error: str) -> None:
    async with FakeSlack() as slack:
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
        with pytest.raises(SlackApiError) as refused:
            await client.api_call(method, json=arguments)
        assert refused.value.response["error"] == error
