"""Telling one staff member something privately (an ephemeral line) once their act is decided.

Best effort: by then the act is committed (or refused for good), so a failure to tell must not fail
the request. A 500 would only make Slack retry an act that dedupe then skips, and the words would
still be lost. Failures are logged by kind only: the text can hold a case's personal data.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.logs import fields
from bot.slack.errors import slack_error_code

log = logging.getLogger("madoguchi.slack")

# How a Web API call fails: Slack's refusal, or the network (a dropped connection, the client's timeout).
CALL_FAILED = (SlackApiError, aiohttp.ClientError, TimeoutError, OSError)


# Bolt's `ack` as our listeners take it.
Ack = Callable[..., Awaitable[None]]


def failure_kind(exc: BaseException) -> str:
    """Slack's error code, or the name of the exception (the network's, or a refusal without a code):
    what a log line may say of a failure."""
    if isinstance(exc, SlackApiError):
        return slack_error_code(exc) or type(exc).__name__
    return type(exc).__name__


async def tell(
    client: AsyncWebClient, actor: str, channel: str | None, text: str, *, thread_ts: str | None = None
) -> bool:
    """An ephemeral line for `actor` alone (nowhere to say it without a channel): whether it was said."""
    if not channel:
        return False
    try:
        await client.chat_postEphemeral(channel=channel, user=actor, text=text, thread_ts=thread_ts)
    except CALL_FAILED as exc:
        log.warning("slack.ephemeral_failed", extra=fields(error=failure_kind(exc)))
        return False
    return True


async def open_view(
    client: AsyncWebClient,
    trigger_id: str,
    view: dict[str, Any],
    actor: str,
    channel: str | None,
    failed: str,
) -> bool:
    """Open a modal, best effort: False when Slack or the network refused it (the trigger id lives
    3 s, and a staff look-up may have used them). Nothing was done yet, so a 500 would only get the
    same expired trigger retried and an error-level traceback; instead the actor is told `failed`
    where there is a channel to say it in, and the request is answered 200."""
    try:
        await client.views_open(trigger_id=trigger_id, view=view)
    except CALL_FAILED as exc:
        log.warning("slack.view_open_failed", extra=fields(error=failure_kind(exc)))
        await tell(client, actor, channel, failed)
        return False
    return True


async def open_button_view(
    client: AsyncWebClient, body: dict[str, Any], view: dict[str, Any], failed: str
) -> bool:
    """`open_view` for a button press: told in the button's channel, when it has one (App Home has none)."""
    channel = (body.get("channel") or {}).get("id")
    return await open_view(client, str(body["trigger_id"]), view, str(body["user"]["id"]), channel, failed)


async def open_command_view(
    client: AsyncWebClient, ack: Ack, command: dict[str, Any], view: dict[str, Any], failed: str
) -> None:
    """`open_view` for a slash command (`/madoguchi event`, `/madoguchi notice`), then its answer:
    a failure is said in that answer, as the bot may not be in the channel it was typed in."""
    if await open_view(client, command["trigger_id"], view, str(command["user_id"]), None, failed):
        await ack()
    else:
        await ack(text=failed)
