"""POST /line/webhook through real HTTP: forged or broken requests change nothing; good ones are stored once."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.line_webhook import (
    follow_event,
    image_event,
    join_event,
    leave_event,
    location_event,
    sign,
    signed_headers,
    sticker_event,
    text_event,
    webhook_body,
)
from tests.harness import LINE_SECRET, post_events, post_raw, wait_for

REPLY = "/v2/bot/message/reply"


async def answered(line: FakeLine, event: dict[str, Any]) -> None:
    """Wait until LINE accepted the reply carrying this event's reply token."""

    def done() -> bool:
        return any(
            r.status == 200 and (r.json or {}).get("replyToken") == event["replyToken"]
            for r in line.find_requests(path=REPLY)
        )

    await wait_for(done)


async def nothing_happened(bot: Runtime, line: FakeLine) -> None:
    """Nothing was stored, handled or sent for what came before.

    The inbox row is committed before a webhook is answered, so an accepted event would already be
    stored. To show it was not handled either, a genuine event from the same citizen is sent after it
    and answered: one citizen's events are handled in order, so anything stored before would have
    been handled, and answered, first."""
    assert await bot.db.read.inbox.pending() == []
    assert [await bot.db.read.inbox.count(s) for s in ("done", "failed")] == [0, 0]
    assert await bot.db.read.users.by_line_id("U_HANAKO") is None
    barrier = text_event("U_HANAKO", "ヘルプ", reply_token=line.issue_reply_token("U_HANAKO"))
    assert (await post_events(bot.base_url, [barrier]))[0] == 200
    await answered(line, barrier)
    items = await bot.db.read.inbox.for_key("line:U_HANAKO")
    assert [(i.event_id, i.status) for i in items] == [(barrier["webhookEventId"], "done")]
    assert [await bot.db.read.inbox.count(s) for s in ("done", "failed")] == [1, 0]
    assert [(r.path, (r.json or {}).get("replyToken")) for r in line.requests] == [
        (REPLY, barrier["replyToken"])
    ]


def tampered(body: bytes) -> bytes:
    index = body.index(b"hello")
    return body[:index] + b"j" + body[index + 1 :]


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda body: (tampered(body), signed_headers(LINE_SECRET, body)), id="tampered-byte"),
        pytest.param(lambda body: (body, signed_headers("not-the-secret", body)), id="wrong-secret"),
        pytest.param(lambda body: (body, {"Content-Type": "application/json"}), id="missing-header"),
        pytest.param(
            lambda body: (json.dumps(json.loads(body), indent=1).encode(), signed_headers(LINE_SECRET, body)),
            id="reserialised-json",
        ),
        pytest.param(
            lambda body: (body, {**signed_headers(LINE_SECRET, body), "X-Line-Signature": "!!notbase64"}),
            id="garbage-signature",
        ),
    ],
)
async def test_forged_requests_are_rejected_with_no_side_effect(
    bot: Runtime, line: FakeLine, forge: object
) -> None:
    body = webhook_body([text_event("U_HANAKO", "hello")])
    forged_body, headers = forge(body)  # type: ignore[operator]
    status, _ = await post_raw(bot.base_url, forged_body, headers)
    assert status == 401
    await nothing_happened(bot, line)


async def test_oversized_body_is_refused_with_413(bot: Runtime, line: FakeLine) -> None:
    body = webhook_body([text_event("U_HANAKO", "あ" * 30000)])  # ~90 KB, over the 64 KiB test limit
    status, _ = await post_raw(bot.base_url, body, signed_headers(LINE_SECRET, body))
    assert status == 413
    await nothing_happened(bot, line)


async def test_malformed_json_is_refused_with_400(bot: Runtime, line: FakeLine) -> None:
    for body in (b'{"events": [', b'{"events": "nope"}', b'{"events": [{"type": "message"}]}', b"\xff\xfe"):
        status, _ = await post_raw(bot.base_url, body, {"X-Line-Signature": sign(LINE_SECRET, body)})
        assert status == 400, body
    await nothing_happened(bot, line)


async def test_verification_request_gets_200(bot: Runtime, line: FakeLine) -> None:
    status, _ = await post_events(bot.base_url, [])
    assert status == 200
    await nothing_happened(bot, line)


async def test_standby_events_are_skipped(bot: Runtime, line: FakeLine) -> None:
    event = text_event("U_HANAKO", "hello")
    event["mode"] = "standby"
    assert (await post_events(bot.base_url, [event]))[0] == 200
    await nothing_happened(bot, line)


async def test_follow_greets_by_free_reply_and_records_the_user(bot: Runtime, line: FakeLine) -> None:
    token = line.issue_reply_token("U_HANAKO")
    assert (await post_events(bot.base_url, [follow_event("U_HANAKO", reply_token=token)]))[0] == 200
    await wait_for(lambda: len(line.sent_messages()) == 2)
    kinds = {m.kind for m in line.sent_messages()}
    assert kinds == {"reply"}
    greeting, menu = (m.message for m in line.sent_messages())
    assert "友だち追加ありがとうございます" in greeting["text"]
    labels = [item["action"]["label"] for item in menu["quickReply"]["items"]]
    assert labels == ["相談する", "イベント", "申込状況", "配信設定", "相談状況", "お問い合わせ", "ヘルプ"]
    user = await bot.db.read.users.by_line_id("U_HANAKO")
    assert user is not None and user.following
    # Privacy first: nothing but the LINE user id is kept until the citizen agrees to the notice.
    assert user.display_name is None and line.find_requests(path="/v2/bot/profile") == []


async def test_same_event_twice_and_twice_concurrently_is_handled_once(bot: Runtime, line: FakeLine) -> None:
    first = text_event("U_HANAKO", "メニュー", reply_token=line.issue_reply_token("U_HANAKO"))
    second = text_event("U_HANAKO", "ヘルプ", reply_token=line.issue_reply_token("U_HANAKO"))
    assert (await post_events(bot.base_url, [first]))[0] == 200
    redelivered = {**first, "deliveryContext": {"isRedelivery": True}}
    assert (await post_events(bot.base_url, [redelivered]))[0] == 200
    async with aiohttp.ClientSession() as session:
        statuses = await asyncio.gather(
            *(post_events(bot.base_url, [second], session=session) for _ in range(5))
        )
    assert [s for s, _ in statuses] == [200] * 5
    await answered(line, first)
    await answered(line, second)
    # A later event of the same citizen, answered: any copy stored above would have been handled first.
    barrier = text_event("U_HANAKO", "相談状況", reply_token=line.issue_reply_token("U_HANAKO"))
    assert (await post_events(bot.base_url, [barrier]))[0] == 200
    await answered(line, barrier)
    tokens = [(r.json or {}).get("replyToken") for r in line.find_requests(path=REPLY)]
    assert tokens == [first["replyToken"], second["replyToken"], barrier["replyToken"]]
    assert await bot.db.read.inbox.count("done") == 3


async def test_media_get_a_polite_answer(bot: Runtime, line: FakeLine) -> None:
    events = [sticker_event("U_HANAKO"), image_event("U_HANAKO"), location_event("U_HANAKO")]
    for event in events:
        event["replyToken"] = line.issue_reply_token("U_HANAKO")
    assert (await post_events(bot.base_url, events))[0] == 200
    await wait_for(lambda: len(line.sent_messages()) == 3)
    texts = [m.message["text"] for m in line.sent_messages()]
    assert "スタンプ" in texts[0] and "画像" in texts[1] and "位置情報" in texts[2]


async def test_group_join_and_leave_are_recorded(bot: Runtime, line: FakeLine) -> None:
    await post_events(bot.base_url, [join_event("C_GROUP_TSURUMI")])

    async def joined() -> bool:
        return await bot.db.read.line_groups.get("C_GROUP_TSURUMI") is not None

    await wait_for(joined)
    await post_events(bot.base_url, [leave_event("C_GROUP_TSURUMI")])

    async def left() -> bool:
        group = await bot.db.read.line_groups.get("C_GROUP_TSURUMI")
        return group is not None and group.left_at is not None

    await wait_for(left)
    assert line.sent_messages() == []
