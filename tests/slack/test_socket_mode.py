"""The staff desk over Socket Mode: the bot opens a websocket to (fake) Slack and gets its events there.

The real Bolt ``AsyncSocketModeHandler`` and slack_sdk's aiohttp ``SocketModeClient``, started by
``Runtime`` with ``[slack] mode = "socket"``, against the fake Slack: ``apps.connections.open`` with
the app-level token, Slack's ``hello``, envelopes in, acks out. No HTTP route for Slack exists in
this mode, so everything staff do arrives through the socket.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import aiohttp
import pytest

from bot.config import Settings
from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.slack_signing import (
    block_action,
    event_callback,
    message_event,
    slash_command,
    view_submission,
)
from storage.cases import Case
from tests.harness import settings_for, wait_for
from tests.line.test_intake_e2e import USER, Citizen
from tests.slack.test_desk_e2e import CATEGORIES, STAFF, Desk, button_ids, card_posted, submit_intake

APP_TOKEN = "xapp-test"
SOCKET_LOGGER = "madoguchi.slack.socket"


def socket_settings(tmp_path: Path, line: FakeLine, slack: FakeSlack, app_token: str) -> Settings:
    settings = settings_for(tmp_path, line.base_url, CATEGORIES, slack_api_url=slack.api_url)
    socket = settings.slack.model_copy(update={"mode": "socket", "app_token": app_token})
    return settings.model_copy(update={"slack": socket})


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[Desk]:
    """Staff are the members of the case's channel."""
    async with FakeLine(access_token="test-access-token") as line, FakeSlack(app_token=APP_TOKEN) as slack:
        line.set_profile(USER, "山田 花子")
        slack.set_members("C_NPO", [STAFF])
        slack.set_members("C_DEFAULT", [STAFF])
        async with Runtime(socket_settings(tmp_path, line, slack, APP_TOKEN)) as bot:
            await asyncio.wait_for(slack.socket_connected.wait(), 5)
            yield Desk(bot, line, slack)


def interactive(body: tuple[bytes, str]) -> dict[str, Any]:
    """The JSON an interaction carries in its ``payload=`` form field (what Socket Mode sends bare)."""
    [payload] = parse_qs(body[0].decode("ascii"))["payload"]
    decoded: dict[str, Any] = json.loads(payload)
    return decoded


def events_api(body: tuple[bytes, str]) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(body[0])
    return decoded


def command(body: tuple[bytes, str]) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(body[0].decode("ascii")).items()}


async def press(desk: Desk, case: Case, action_id: str) -> dict[str, Any]:
    """A button press delivered over the socket; returns the ack once it came."""
    trigger = desk.slack.issue_trigger_id(STAFF)
    payload = interactive(block_action(STAFF, action_id, str(case.id), "C_NPO", case.slack_ts, trigger))
    envelope_id = await desk.slack.socket_send("interactive", payload)
    return await desk.slack.wait_ack(envelope_id)


async def test_the_desk_works_over_socket_mode(desk: Desk) -> None:
    slack = desk.slack
    [opened] = slack.find_calls("apps.connections.open")
    assert opened.ok and opened.headers["authorization"] == f"Bearer {APP_TOKEN}"
    assert slack.socket_connections == 1

    citizen = Citizen(desk.bot.base_url, desk.line)
    await submit_intake(citizen)
    case = await card_posted(desk)
    assert case.slack_channel == "C_NPO"

    # Claim: the ack carries no payload and, Bolt processing before it answers, means the claim is done.
    ack = await press(desk, case, "case_claim")
    assert set(ack) == {"envelope_id"}
    claimed = await desk.case()
    assert (claimed.assignee, claimed.status) == (STAFF, "in_progress")
    await wait_for(lambda: "case_unclaim" in button_ids(slack.message("C_NPO", case.slack_ts or "")))
    await wait_for(lambda: any("担当になりました" in t for t in desk.thread(case)))
    audit = await desk.bot.db.read.audit.for_subject("case", case.id)
    assert [(e.actor, e.action) for e in audit] == [
        ("slack", "case.card_posted"),
        (f"slack:{STAFF}", "case.claimed"),
    ]

    # A thread message with the reply prefix reaches the citizen on LINE, once even if Slack redelivers.
    sent = len(desk.line.sent_messages(USER))
    answer = events_api(
        event_callback(
            message_event("C_NPO", STAFF, "返信:必要書類をお送りします。", thread_ts=case.slack_ts)
        )
    )
    first = await slack.socket_send("events_api", answer)
    assert await slack.wait_ack(first) == {"envelope_id": first}
    again = await slack.socket_send("events_api", answer, retry_attempt=1)
    assert await slack.wait_ack(again) == {"envelope_id": again}
    assert [e["retry_attempt"] for e in slack.socket_envelopes[-2:]] == [0, 1]
    await wait_for(lambda: len(desk.line.sent_messages(USER)) == sent + 1)
    assert desk.line.sent_messages(USER)[-1].message["text"].endswith("必要書類をお送りします。")
    await wait_for(lambda: "✅ 相談者に送信しました。" in desk.thread(case))
    assert len(desk.line.sent_messages(USER)) == sent + 1
    replies = [m.body for m in await desk.bot.db.read.cases.messages(case.id) if m.direction == "reply"]
    assert replies == ["必要書類をお送りします。"]


async def test_answers_travel_back_in_the_ack(desk: Desk) -> None:
    """What HTTP mode returns as the response body (a modal's response_action, a command's text)
    comes back as the ack's payload."""
    slack = desk.slack
    await submit_intake(Citizen(desk.bot.base_url, desk.line))
    case = await card_posted(desk)

    command_id = await slack.socket_send(
        "slash_commands", command(slash_command("/madoguchi", "cases", STAFF, "C_NPO"))
    )
    ack = await slack.wait_ack(command_id)
    assert slack.socket_envelopes[-1]["accepts_response_payload"] is True
    assert case.number in ack["payload"]["text"]

    await press(desk, case, "case_reply")
    [opened] = [v for v in slack.views if v.action == "open"]
    assert opened.view["callback_id"] == "case_reply_compose"
    compose = view_submission(
        STAFF, "case_reply_compose", {"reply": {"text": "必要書類をご案内します。"}},
        opened.view["private_metadata"], opened.view_id,
    )  # fmt: skip
    compose_id = await slack.socket_send("interactive", interactive(compose))
    preview = (await slack.wait_ack(compose_id))["payload"]
    assert preview["response_action"] == "update"
    sent = len(desk.line.sent_messages(USER))
    confirm = view_submission(
        STAFF, "case_reply_confirm", {}, preview["view"]["private_metadata"], opened.view_id
    )
    await slack.wait_ack(await slack.socket_send("interactive", interactive(confirm)))
    await wait_for(lambda: len(desk.line.sent_messages(USER)) == sent + 1)
    assert (
        desk.line.sent_messages(USER)[-1].message["text"]
        == f"【受付番号 {case.number}】\n必要書類をご案内します。"
    )


async def test_a_refresh_from_slack_reconnects(desk: Desk) -> None:
    """Slack asks clients to reconnect now and then (``disconnect``); the SDK opens a new URL."""
    slack = desk.slack
    await slack.socket_disconnect()
    await wait_for(lambda: slack.socket_connections == 2 and slack.socket_connected.is_set(), within=5)
    assert len(slack.find_calls("apps.connections.open")) == 2
    await submit_intake(Citizen(desk.bot.base_url, desk.line))
    case = await card_posted(desk)
    await press(desk, case, "case_claim")
    assert (await desk.case()).assignee == STAFF


async def test_only_the_app_level_token_opens_a_connection() -> None:
    async with FakeSlack(app_token=APP_TOKEN) as slack, aiohttp.ClientSession() as session:
        url = f"{slack.api_url}apps.connections.open"
        answers: dict[str, Any] = {}
        for token in (APP_TOKEN, "xapp-wrong", slack.bot_token, ""):
            async with session.post(url, headers={"Authorization": f"Bearer {token}"}) as response:
                answers[token] = await response.json()
        assert answers[APP_TOKEN]["ok"] and answers[APP_TOKEN]["url"].startswith("ws://127.0.0.1:")
        assert answers["xapp-wrong"] == {"ok": False, "error": "invalid_auth"}
        assert answers[slack.bot_token] == {"ok": False, "error": "not_allowed_token_type"}
        assert answers[""] == {"ok": False, "error": "not_authed"}
        # A URL works once; a second connection needs a new one.
        ws_url = answers[APP_TOKEN]["url"]
        async with session.ws_connect(ws_url) as ws:
            hello = await ws.receive_json(timeout=5)
            assert (hello["type"], hello["num_connections"]) == ("hello", 1)
            assert hello["connection_info"] == {"app_id": slack.app_id}
            await asyncio.wait_for(slack.socket_connected.wait(), 5)
            envelope_id = await slack.socket_send("events_api", {"type": "event_callback"})
            envelope = await ws.receive_json(timeout=5)
            assert envelope == {
                "envelope_id": envelope_id,
                "payload": {"type": "event_callback"},
                "type": "events_api",
                "accepts_response_payload": False,
                "retry_attempt": 0,
                "retry_reason": "",
            }
            await ws.send_json({"envelope_id": envelope_id})
            assert await slack.wait_ack(envelope_id) == {"envelope_id": envelope_id}
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await session.ws_connect(ws_url)
        await wait_for(lambda: not slack.socket_connected.is_set(), within=5)
        with pytest.raises(RuntimeError):
            await slack.socket_send("events_api", {})


@pytest.fixture
async def misconfigured(tmp_path: Path) -> AsyncIterator[Desk]:
    """A bot whose app token Slack does not accept."""
    async with FakeLine(access_token="test-access-token") as line, FakeSlack(app_token=APP_TOKEN) as slack:
        line.set_profile(USER, "山田 花子")
        slack.set_members("C_NPO", [STAFF])
        async with Runtime(socket_settings(tmp_path, line, slack, "xapp-revoked")) as bot:
            yield Desk(bot, line, slack)


async def test_a_wrong_app_token_leaves_line_working(misconfigured: Desk) -> None:
    slack = misconfigured.slack
    await wait_for(lambda: any(r.error == "invalid_auth" for r in slack.find_calls("apps.connections.open")))
    assert slack.socket_connections == 0
    citizen = Citizen(misconfigured.bot.base_url, misconfigured.line)
    await submit_intake(citizen)  # every step answers 200 and the citizen gets each answer
    case = await card_posted(misconfigured)
    assert case.slack_channel == "C_NPO"  # the Web API side (cards) is independent of the socket


async def test_a_wrong_app_token_is_logged(misconfigured: Desk, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=SOCKET_LOGGER):
        await wait_for(
            lambda: any(r.getMessage() == "slack.socket_connect_failed" for r in caplog.records), within=1.5
        )
    [failed, *_] = [r for r in caplog.records if r.getMessage() == "slack.socket_connect_failed"]
    assert getattr(failed, "fields", {}).get("error") == "SlackApiError"
