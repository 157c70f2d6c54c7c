"""Hostile requests to POST /slack/events (HTTP mode), sent to the running server as an attacker would.

The gate verifies before anything is parsed: unsigned or stale input is a 401, oversized a 413,
signed garbage a 400, and nothing of it is stored, sent or written to the log (no traceback, no
body). Signed payloads of an odd shape (a button value that is no case id, broken
`private_metadata`) cost only their own request, never a 500.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.loopback import post
from bot.sandbox.slack_signing import (
    FORM,
    JSON,
    block_action,
    event_callback,
    message_event,
    sign,
    view_submission,
)
from tests.harness import SLACK_SIGNING_SECRET, ServerLog, captured_log, settings_for, wait_for
from tests.line.test_intake_e2e import USER, Citizen
from tests.slack.test_desk_e2e import CATEGORIES, STAFF, Desk, card_posted, submit_intake

MARKER = "MARKER-個人情報-5c1e"
# Reads the bot makes (the workspace, staff checks, names) and private answers to the person who
# clicked ("no such case"); anything else is an act that changes what others see.
READS = {"auth.test", "conversations.members", "users.info", "chat.postEphemeral"}


@pytest.fixture
def server_log() -> Iterator[ServerLog]:
    """With the SDK loggers turned up to INFO: even then no request body may appear."""
    with captured_log(MARKER, loud=("slack_bolt", "slack_sdk", "aiohttp")) as log:
        yield log


@pytest.fixture
async def desk(tmp_path: Path, server_log: ServerLog) -> AsyncIterator[Desk]:
    async with FakeLine(access_token="test-access-token") as line, FakeSlack() as slack:
        line.set_profile(USER, "山田 花子")
        slack.set_members("C_NPO", [STAFF])
        slack.set_members("C_DEFAULT", [STAFF])
        settings = settings_for(tmp_path, line.base_url, CATEGORIES, slack_api_url=slack.api_url)
        async with Runtime(settings) as bot:
            yield Desk(bot, line, slack)


async def snapshot(desk: Desk) -> dict[str, Any]:
    """Everything a request could have changed: stored rows, calls to Slack, messages to LINE
    (once whatever was queued has gone out, so a row queued by a request shows as one more sent)."""
    read = desk.bot.db.read

    async def settled() -> bool:
        return await read.outbox.count("pending") == 0

    await wait_for(settled)
    cases = await read.cases.with_status("new", "in_progress", "closed")
    return {
        "inbox": [await read.inbox.count(s) for s in ("pending", "done", "failed")],
        "outbox": [await read.outbox.count(s) for s in ("pending", "sent", "failed", "dead")],
        "cases": [(c.status, c.assignee, c.first_response_at) for c in cases],
        "messages": [len(await read.cases.messages(c.id)) for c in cases],
        "slack": [r.api_method for r in desk.slack.requests if r.api_method not in READS],
        "line": len(desk.line.sent_messages(USER)),
    }


async def raw_post(desk: Desk, body: bytes, headers: dict[str, str]) -> int:
    status, _ = await post(desk.url, body, headers)
    return status


def signed(body: bytes, content_type: str, timestamp: str | None = None) -> dict[str, str]:
    ts = timestamp if timestamp is not None else str(int(time.time()))
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": sign(SLACK_SIGNING_SECRET, ts, body),
    }


GARBAGE: list[tuple[str, bytes, str]] = [
    ("bad json", b'{"type": "event_callback", "event": {"text": "' + MARKER.encode() + b'"', JSON),
    ("a list", b"[1]", JSON),
    ("not utf-8", b'{"text": "\xff\xfe' + MARKER.encode() + b'"}', JSON),
    # Deep, within the 64 KB the test server takes (far past the parser's recursion limit).
    ("deep nesting", b"[" * 60_000, JSON),
    ("deep object", b'{"a":' * 12_000, JSON),
    (
        "broken form payload",
        urlencode({"payload": '{"type": "block_actions", "x": "' + MARKER}).encode(),
        FORM,
    ),
    ("form payload a list", urlencode({"payload": "[1]"}).encode(), FORM),
    ("form payload nested", urlencode({"payload": "[" * 20_000}).encode(), FORM),
]


@pytest.mark.parametrize(("name", "body", "content_type"), GARBAGE, ids=[g[0] for g in GARBAGE])
async def test_unsigned_garbage_is_401_and_leaves_no_trace(
    desk: Desk, server_log: ServerLog, name: str, body: bytes, content_type: str
) -> None:
    before = await snapshot(desk)
    assert await raw_post(desk, body, {"Content-Type": content_type}) == 401
    forged = {**signed(body, content_type), "X-Slack-Signature": "v0=" + "0" * 64}
    assert await raw_post(desk, body, forged) == 401
    assert await snapshot(desk) == before
    server_log.assert_clean()


@pytest.mark.parametrize(("name", "body", "content_type"), GARBAGE, ids=[g[0] for g in GARBAGE])
async def test_signed_garbage_is_400_never_500(
    desk: Desk, server_log: ServerLog, name: str, body: bytes, content_type: str
) -> None:
    before = await snapshot(desk)
    assert await raw_post(desk, body, signed(body, content_type)) == 400
    assert await snapshot(desk) == before
    server_log.assert_clean()


async def test_big_unsigned_bodies_cost_a_line_each_not_their_size(desk: Desk, server_log: ServerLog) -> None:
    before = await snapshot(desk)
    limit = desk.bot.settings.server.max_body_bytes
    filler = json.dumps({"type": "event_callback", "event": {"text": MARKER * (limit // 40)}})
    near_limit = filler.encode()[: limit - 10]
    huge = b'{"text": "' + MARKER.encode() * (1_048_576 // len(MARKER.encode())) + b'"}'
    async with aiohttp.ClientSession() as session:
        statuses = await asyncio.gather(
            *[post(desk.url, huge, {"Content-Type": JSON}, session) for _ in range(20)],
            *[post(desk.url, near_limit, {"Content-Type": JSON}, session) for _ in range(20)],
        )
    assert [s for s, _ in statuses] == [413] * 20 + [401] * 20
    assert await snapshot(desk) == before
    server_log.assert_clean()
    assert len(server_log.text) < 20_000  # forty short lines, not megabytes of bodies


async def test_stale_or_oddly_stamped_signed_requests_are_401(desk: Desk, server_log: ServerLog) -> None:
    citizen = Citizen(desk.bot.base_url, desk.line)
    await submit_intake(citizen)
    case = await card_posted(desk)
    before = await snapshot(desk)
    note, _ = event_callback(message_event("C_NPO", STAFF, f"返信:{MARKER}", thread_ts=case.slack_ts))
    stale = str(int(time.time()) - 600)
    future = str(int(time.time()) + 600)
    for timestamp in (stale, future, "abc", "1e9", " 1700000000", "-1", "9" * 40, ""):
        assert await raw_post(desk, note, signed(note, JSON, timestamp)) == 401, timestamp
    no_stamp = {k: v for k, v in signed(note, JSON).items() if k != "X-Slack-Request-Timestamp"}
    assert await raw_post(desk, note, no_stamp) == 401
    assert await snapshot(desk) == before
    server_log.assert_clean()


async def test_signed_payloads_of_an_odd_shape_change_nothing(desk: Desk, server_log: ServerLog) -> None:
    citizen = Citizen(desk.bot.base_url, desk.line)
    await submit_intake(citizen)
    case = await card_posted(desk)
    before = await snapshot(desk)

    def action_payload(**changes: Any) -> dict[str, Any]:
        body, _ = block_action(STAFF, "case_claim", str(case.id), "C_NPO", case.slack_ts)
        payload: dict[str, Any] = json.loads(dict(_form(body))["payload"])
        payload.update(changes)
        return payload

    def form(payload: Any) -> bytes:
        return urlencode({"payload": json.dumps(payload, ensure_ascii=False)}).encode()

    odd_actions = [
        action_payload(actions=[{"action_id": "case_claim", "value": "abc", "action_ts": "1"}]),
        action_payload(actions=[{"action_id": "case_claim", "action_ts": "1"}]),
        action_payload(actions=[{"action_id": "case_claim", "value": "9" * 30, "action_ts": "1"}]),
        action_payload(actions="x"),
        action_payload(actions=[]),
        action_payload(user="x"),
        action_payload(channel=MARKER),
    ]
    for payload in odd_actions:
        status = await raw_post(desk, form(payload), signed(form(payload), FORM))
        assert status in (200, 400, 404), payload
    metadata_cases = ["", "{", "[]", "null", '{"case_id": "x"}', json.dumps({"case_id": MARKER}), "7"]
    for metadata in metadata_cases:
        for callback_id, values in (
            ("case_reply_compose", {"reply": {"text": MARKER}}),
            ("case_reply_confirm", {}),
            ("case_close_submit", {"message": {"text": MARKER}}),
        ):
            body, content_type = view_submission(STAFF, callback_id, values, metadata)
            status = await raw_post(desk, body, signed(body, content_type))
            assert status in (200, 400), (callback_id, metadata, status)
    odd_events = [
        {"type": "event_callback", "event": "x"},
        {"type": "event_callback", "event": {"type": "message", "user": STAFF, "thread_ts": case.slack_ts}},
        {"type": "event_callback", "event": ["x"], "is_ext_shared_channel": True},
        {"type": "event_callback", "event": {"type": "app_home_opened"}},
        {"type": "view_submission", "view": "x"},
    ]
    for event in odd_events:
        body = json.dumps(event).encode()
        status = await raw_post(desk, body, signed(body, JSON))
        assert status in (200, 400, 404), event
    assert await snapshot(desk) == before
    assert all(e["to_user"] == STAFF and MARKER not in e["text"] for e in desk.slack.ephemerals)
    server_log.assert_clean()
    async with aiohttp.ClientSession() as session, session.get(f"{desk.bot.base_url}/healthz") as r:
        assert r.status == 200


def _form(body: bytes) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(body.decode("ascii"))
