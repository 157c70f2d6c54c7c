"""Telling one staff member something privately (an ephemeral line) once their act is decided.

Best effort: by then the act is committed (or refused for good), so a failure to tell must not fail
the request. A 500 would only make Slack retry an act that dedupe then skips, and the words would
still be lost. Failures are logged by kind only: the text can hold a case's personal data.
"""

from __future__ import annotations

import logging

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.logs import fields

log = logging.getLogger("madoguchi.slack")

# How a Web API call fails: Slack's refusal, or the network (a dropped connection, the client's timeout).
CALL_FAILED = (SlackApiError, aiohttp.ClientError, TimeoutError, OSError)


def failure_kind(exc: BaseException) -> str:
    """Slack's error code, or the name of the network error: what a log line may say of a failure."""
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error"))
    return type(exc).__name__


async def tell(
    client: AsyncWebClient, actor: str, channel: str | None, text: str, *, thread_ts: str | None = None
) -> None:
    """An ephemeral line for `actor` alone (nowhere to say it without a channel)."""
    if not channel:
        return
    try:
        await client.chat_postEphemeral(channel=channel, user=actor, text=text, thread_ts=thread_ts)
    except CALL_FAILED as exc:
        log.warning("slack.ephemeral_failed", extra=fields(error=failure_kind(exc)))
