"""The bot's replies, pushes and multicasts are the requests the SDK's own calls would send.

`LineApi` posts the messages as they were rendered (by the SDK's own models) and stored, through the
SDK client's session, without the SDK's per-call layers (validating `from_dict` models that its
client serialises back). Each kind of message the bot sends goes out both ways to the fake LINE
(which validates as LINE does): the bodies must be byte for byte the same, the headers LINE reads
the same, and both accepted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from linebot.v3.messaging import ApiException, MulticastRequest, PushMessageRequest, ReplyMessageRequest

from bot.delivery import Final
from bot.line.api import LineApi, classify
from bot.line.render import render_batches
from bot.sandbox.fake_line import FakeLine
from flows.messages import Card, Carousel, Choice, Confirm, Link, Outgoing, Text
from flows.reminders import event_notice
from flows.texts import Texts
from tests.conftest import NOW
from tests.harness import settings_for

REPLY = "/v2/bot/message/reply"
PUSH = "/v2/bot/message/push"
MULTICAST = "/v2/bot/message/multicast"
TOKYO = ZoneInfo("Asia/Tokyo")
YES, NO = Choice("はい", "yes"), Choice("いいえ", "no")

CASES: dict[str, list[Outgoing]] = {
    "text": [Text('こんにちは。ご相談を承ります😊\n改行も"引用符"も\\も送れます。')],
    "long text, split": [Text("長い文章です。" * 700)],
    "quick replies": [Text("どちらにしますか？", choices=(YES, NO, Choice("わからない", "unknown")))],
    "confirm template": [Confirm("この内容で送りますか？", YES, NO)],
    "confirm too long for the template": [Confirm("確認してください。" * 30, YES, NO)],
    "flex card": [
        Card(
            "相談の受付",
            ("受付番号 12", "担当: 窓口"),
            (YES, Link("カレンダーに追加", "https://example.jp/x.ics")),
        )
    ],
    "flex carousels": [
        Carousel(
            "イベント一覧",
            tuple(Card(f"イベント{n}", (f"{n}日",), (Choice("申し込む", f"e{n}"),)) for n in range(13)),
        )
    ],
    "five at once": [Text("一"), Confirm("二", YES, NO), Card("三"), Text("四", choices=(YES,)), Text("五")],
}


def stored(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages as the outbox gives them back (its payload is JSON text)."""
    return list(json.loads(json.dumps(batch, ensure_ascii=False)))


def batches() -> list[tuple[str, list[dict[str, Any]]]]:
    found = [(name, stored(b)) for name, messages in CASES.items() for b in render_batches(messages)]
    notice = event_notice(
        Texts.load(),
        "reminder",
        title="市民活動講座",
        starts_at=NOW,
        venue="区民会館",
        online_url="",
        tz=TOKYO,
    )
    return [*found, ("reminder text", stored([notice]))]


@pytest.mark.parametrize(("name", "messages"), batches(), ids=[name for name, _ in batches()])
async def test_requests_carry_the_same_bytes_as_validated_models(
    tmp_path: Path, line: FakeLine, name: str, messages: list[dict[str, Any]]
) -> None:
    line.quota = 10_000
    users = ["U_HANAKO", "U_TARO"]
    async with LineApi(settings_for(tmp_path, line.base_url).line) as api:
        before = line.issue_reply_token("U_HANAKO")
        validated = ReplyMessageRequest.from_dict({"replyToken": before, "messages": messages})
        await api.messaging.reply_message(validated)
        after = line.issue_reply_token("U_HANAKO")
        await api.reply(after, messages)

        await api.messaging.push_message(
            PushMessageRequest.from_dict({"to": "U_HANAKO", "messages": messages}), x_line_retry_key=_key(1)
        )
        await api.push("U_HANAKO", messages, _key(2))

        await api.messaging.multicast(
            MulticastRequest.from_dict({"to": users, "messages": messages}), x_line_retry_key=_key(3)
        )
        await api.multicast(users, messages, _key(4))

    for path in (REPLY, PUSH, MULTICAST):
        old, new = line.find_requests(path=path)
        assert (old.status, new.status) == (200, 200), (path, old.status, new.status)
        assert old.body.replace(before.encode(), after.encode()) == new.body, path
        for header in ("content-type", "accept", "user-agent", "authorization", "content-encoding"):
            assert old.headers.get(header) == new.headers.get(header), (path, header)
        assert (old.method, old.query) == (new.method, new.query) == ("POST", {})
    for path, (old_key, new_key) in ((PUSH, (1, 2)), (MULTICAST, (3, 4))):
        old, new = line.find_requests(path=path)
        assert (old.headers["x-line-retry-key"], new.headers["x-line-retry-key"]) == (
            _key(old_key),
            _key(new_key),
        )
    assert "x-line-retry-key" not in line.find_requests(path=REPLY)[1].headers
    assert len(line.sent_messages("U_HANAKO")) == 6 * len(messages)  # 2 replies, 2 pushes, 2 multicasts


async def test_a_message_line_refuses_is_refused_by_line_not_lost_locally(
    tmp_path: Path, line: FakeLine
) -> None:
    """No local validation any more: what LINE would refuse gets LINE's own 400 (a final outcome)."""
    async with LineApi(settings_for(tmp_path, line.base_url).line) as api:
        with pytest.raises(ApiException) as refused:
            await api.push("U_HANAKO", [{"type": "text", "text": ""}], _key(5))
    assert refused.value.status == 400
    assert isinstance(classify(refused.value), Final)
    assert line.sent_messages("U_HANAKO") == []


def _key(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


@pytest.mark.parametrize(
    "body",
    [
        b"[1, 2]",
        b'"Bad Request"',
        b"null",
        b'{"message": "Bad", "details": {"property": "x"}}',
        b"[" * 100_000,
    ],
    ids=["a list", "a string", "null", "details not a list", "nested past the parser's limit"],
)
def test_an_error_body_of_any_shape_is_classified_not_raised(body: bytes) -> None:
    """What a proxy or a load balancer answers need not be LINE's error object."""
    refused = ApiException(status=400)
    refused.body = body
    outcome = classify(refused)
    assert isinstance(outcome, Final)
    assert outcome.reason.startswith("HTTP 400")


@pytest.mark.parametrize(
    "answer",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b"[]",
        b'{"sentMessages": {"id": 1}}',
        b'{"sentMessages": [{}]}',
        b"\xff",
    ],
    ids=["nested past the parser's limit", "a list", "not a list", "no id", "not UTF-8"],
)
async def test_a_push_accepted_with_an_odd_answer_counts_as_sent_without_ids(
    tmp_path: Path, answer: bytes
) -> None:
    """Only the ids are missing from such an answer (a proxy's, or LINE's own changing): the push
    went out, and must not be retried (its retry key would only get a 409)."""

    async def accept(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=answer, content_type="application/json")

    app = web.Application()
    app.router.add_post(PUSH, accept)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        async with LineApi(settings_for(tmp_path, base).line) as api:
            assert await api.push("U_HANAKO", [{"type": "text", "text": "こんにちは"}], _key(6)) == []
    finally:
        await runner.cleanup()
