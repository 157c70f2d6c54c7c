"""reactions.add on the fake Slack, through the real AsyncWebClient: Slack's shape and errors."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox.fake_slack import FakeSlack


async def test_reactions_add_as_slack_answers_it() -> None:
    async with FakeSlack() as slack:
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
        message = slack.add_user_message("C1", "U_STAFF", "メモです")
        ts = str(message["ts"])

        answer = await client.reactions_add(channel="C1", timestamp=ts, name="memo")
        assert answer.data == {"ok": True}
        assert slack.reactions_on("C1", ts) == ["memo"]
        assert message["reactions"] == [{"name": "memo", "users": [slack.bot_user_id], "count": 1}]

        async def error(**kwargs: str) -> str:
            with pytest.raises(SlackApiError) as caught:
                await client.reactions_add(**kwargs)
            return str(caught.value.response["error"])

        assert await error(channel="C1", timestamp=ts, name="memo") == "already_reacted"
        assert await error(channel="C1", timestamp=ts, name=":memo:") == "invalid_name"
        assert await error(channel="C1", timestamp="1700000000.000001", name="memo") == "message_not_found"
        assert await error(channel="C1", timestamp="yesterday", name="memo") == "bad_timestamp"
        with pytest.raises(SlackApiError) as caught:  # the SDK's signature wants a timestamp
            await client.api_call("reactions.add", params={"channel": "C1", "name": "memo"})
        assert caught.value.response["error"] == "no_item_specified"
        assert slack.reactions_on("C1", ts) == ["memo"]
        await client.reactions_add(channel="C1", timestamp=ts, name="wave::skin-tone-2")
        assert slack.reactions_on("C1", ts) == ["memo", "wave::skin-tone-2"]
