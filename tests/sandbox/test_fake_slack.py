"""The fake Slack platform, driven through the real slack_sdk AsyncWebClient and a real
Bolt AsyncApp served over HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import pytest
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.context.say.async_say import AsyncSay
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox import slack_signing as ss
from bot.sandbox.fake_slack import FakeSlack

SECRET = "test-signing-secret"
TOKEN = "xoxb-test"
SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "*case* 1"}}
MODAL = {
    "type": "modal",
    "callback_id": "reply",
    "title": {"type": "plain_text", "text": "返信"},
    "submit": {"type": "plain_text", "text": "送信"},
    "blocks": [
        {
            "type": "input",
            "block_id": "body",
            "label": {"type": "plain_text", "text": "本文"},
            "element": {"type": "plain_text_input", "action_id": "text", "multiline": True},
        }
    ],
}


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
def client(slack: FakeSlack) -> AsyncWebClient:
    # No retry handlers: each test sees exactly what the wire did.
    return AsyncWebClient(token=TOKEN, base_url=slack.api_url, retry_handlers=[])


def error_of(exc: pytest.ExceptionInfo[SlackApiError]) -> str:
    return str(exc.value.response["error"])


# -- auth ------------------------------------------------------------------------------


async def test_auth_test_and_the_recorded_request(slack: FakeSlack, client: AsyncWebClient) -> None:
    resp = await client.auth_test()
    assert (resp["team_id"], resp["user_id"], resp["bot_id"]) == ("T1", "U_BOT", "B_BOT")
    [rec] = slack.find_calls("auth.test")
    assert (rec.http_method, rec.path, rec.status, rec.ok) == ("POST", "/api/auth.test", 200, True)
    assert rec.headers["authorization"] == "Bearer xoxb-test"


async def test_wrong_or_missing_token(slack: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as exc:
        await AsyncWebClient(token="xoxb-wrong", base_url=slack.api_url).chat_postMessage(
            channel="C1", text="x"
        )
    assert (exc.value.response.status_code, error_of(exc)) == (200, "invalid_auth")
    with pytest.raises(SlackApiError) as exc:
        await AsyncWebClient(base_url=slack.api_url).auth_test()
    assert error_of(exc) == "not_authed"
    assert slack.messages == []


# -- chat ------------------------------------------------------------------------------


async def test_post_message_threads_and_increasing_ts(slack: FakeSlack, client: AsyncWebClient) -> None:
    root = await client.chat_postMessage(channel="C1", text="case 1", blocks=[SECTION])
    assert root["channel"] == "C1"
    assert root["message"]["blocks"] == [SECTION]
    assert root["message"]["bot_id"] == "B_BOT"
    reply = await client.chat_postMessage(channel="C1", text="note", thread_ts=root["ts"])
    other = await client.chat_postMessage(channel="C2", text="elsewhere")
    tss = [root["ts"], reply["ts"], other["ts"]]
    assert all(isinstance(ts, str) and len(ts.split(".")[1]) == 6 for ts in tss)
    assert [float(t) for t in tss] == sorted({float(t) for t in tss})
    assert [m["text"] for m in slack.messages_in("C1")] == ["case 1"]
    assert slack.texts_in("C1", root["ts"]) == ["note"]
    assert [m["text"] for m in slack.thread("C1", root["ts"])] == ["case 1", "note"]
    assert slack.thread("C1", root["ts"])[0]["reply_count"] == 1
    # The SDK sends chat.* as JSON; the fake records the raw body and the parsed params.
    rec = slack.find_calls("chat.postMessage")[1]
    assert rec.headers["content-type"].startswith("application/json")
    assert json.loads(rec.body) == {"channel": "C1", "text": "note", "thread_ts": root["ts"]}
    assert rec.params["thread_ts"] == root["ts"]


async def test_nested_reply_and_broadcast(slack: FakeSlack, client: AsyncWebClient) -> None:
    root = await client.chat_postMessage(channel="C1", text="root")
    reply = await client.chat_postMessage(channel="C1", text="r1", thread_ts=root["ts"])
    nested = await client.chat_postMessage(channel="C1", text="r2", thread_ts=reply["ts"])
    assert nested["message"]["thread_ts"] == root["ts"]  # a reply to a reply joins the root's thread
    assert "thread_ts" not in root["message"]
    await client.chat_postMessage(channel="C1", text="all", thread_ts=root["ts"], reply_broadcast=True)
    assert slack.texts_in("C1") == ["root", "all"]
    assert slack.texts_in("C1", root["ts"]) == ["r1", "r2", "all"]
    assert slack.messages[0]["reply_users"] == ["U_BOT"]
    assert slack.messages[0]["reply_count"] == 3


async def test_thread_reply_to_an_unknown_ts(slack: FakeSlack, client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as exc:
        await client.chat_postMessage(channel="C1", text="x", thread_ts="1.000001")
    assert error_of(exc) == "thread_not_found"
    human = slack.add_user_message("C1", "U7", "help")
    await client.chat_postMessage(channel="C1", text="x", thread_ts=human["ts"])
    assert slack.texts_in("C1", human["ts"]) == ["x"]


async def test_form_body_with_json_text_fields(slack: FakeSlack, client: AsyncWebClient) -> None:
    resp = await client.api_call(
        "chat.postMessage", data={"channel": "C1", "text": "t", "blocks": json.dumps([SECTION])}
    )
    assert resp["ok"]
    rec = slack.requests[-1]
    assert rec.headers["content-type"] == "application/x-www-form-urlencoded"
    assert slack.messages[0]["blocks"] == [SECTION]
    with pytest.raises(SlackApiError) as exc:
        await client.api_call("chat.postMessage", data={"channel": "C1", "blocks": "[{"})
    assert error_of(exc) == "invalid_blocks_format"


async def test_channels_when_a_list_is_set(slack: FakeSlack, client: AsyncWebClient) -> None:
    slack.set_channels({"C1": "cases"})
    with pytest.raises(SlackApiError) as exc:
        await client.chat_postMessage(channel="C9", text="x")
    assert error_of(exc) == "channel_not_found"
    resp = await client.chat_postMessage(channel="#cases", text="x")
    assert resp["channel"] == "C1"
    info = await client.conversations_info(channel="C1")
    assert (info["channel"]["id"], info["channel"]["name"]) == ("C1", "cases")


async def test_content_checks(slack: FakeSlack, client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as exc:
        await client.api_call("chat.postMessage", json={"channel": "C1"})  # the SDK would warn
    assert error_of(exc) == "no_text"
    long_section = {"type": "section", "text": {"type": "mrkdwn", "text": "あ" * 3001}}
    with pytest.raises(SlackApiError) as exc:
        await client.chat_postMessage(channel="C1", text="x", blocks=[long_section])
    assert error_of(exc) == "invalid_blocks"
    assert exc.value.response["response_metadata"]["messages"] == [
        "[ERROR] must be between 1 and 3000 characters [json-pointer:/blocks/0/text/text]"
    ]
    with pytest.raises(SlackApiError) as exc:
        await client.chat_postMessage(channel="C1", text="x", blocks=[SECTION] * 51)
    assert error_of(exc) == "invalid_blocks"
    assert slack.messages == []


async def test_update(slack: FakeSlack, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="C1", text="open", blocks=[SECTION])
    resp = await client.chat_update(channel="C1", ts=posted["ts"], text="closed", blocks=[])
    assert (resp["ts"], resp["text"]) == (posted["ts"], "closed")
    [stored] = slack.messages
    assert (stored["text"], stored["blocks"], stored["edited"]["user"]) == ("closed", [], "U_BOT")
    with pytest.raises(SlackApiError) as exc:
        await client.chat_update(channel="C1", ts="1.000001", text="x")
    assert error_of(exc) == "message_not_found"
    with pytest.raises(SlackApiError) as exc:
        await client.chat_update(channel="C2", ts=posted["ts"], text="x")
    assert error_of(exc) == "message_not_found"
    human = slack.add_user_message("C1", "U7", "mine")
    with pytest.raises(SlackApiError) as exc:
        await client.chat_update(channel="C1", ts=human["ts"], text="x")
    assert error_of(exc) == "cant_update_message"


async def test_post_ephemeral(slack: FakeSlack, client: AsyncWebClient) -> None:
    resp = await client.chat_postEphemeral(channel="C1", user="U7", text="only you")
    [eph] = slack.ephemerals
    assert (eph["channel"], eph["to_user"], eph["text"], eph["ts"]) == (
        "C1",
        "U7",
        "only you",
        resp["message_ts"],
    )
    assert slack.messages == []
    slack.set_members("C1", ["U1"])
    with pytest.raises(SlackApiError) as exc:
        await client.chat_postEphemeral(channel="C1", user="U7", text="x")
    assert error_of(exc) == "user_not_in_channel"


# -- views -----------------------------------------------------------------------------


async def test_views_open_and_update(slack: FakeSlack, client: AsyncWebClient) -> None:
    trigger = slack.issue_trigger_id("U7")
    opened = await client.views_open(trigger_id=trigger, view={**MODAL, "external_id": "case-1"})
    view_id = opened["view"]["id"]
    assert view_id.startswith("V")
    assert opened["view"]["callback_id"] == "reply"
    assert slack.views[-1][:3] == ("open", view_id, "U7")
    with pytest.raises(SlackApiError) as exc:
        await client.views_open(trigger_id=trigger, view=MODAL)
    assert error_of(exc) == "exchanged_trigger_id"
    with pytest.raises(SlackApiError) as exc:
        await client.views_open(view=MODAL)
    assert error_of(exc) == "invalid_arguments"

    updated = await client.views_update(view_id=view_id, view={**MODAL, "private_metadata": "42"})
    assert (updated["view"]["id"], updated["view"]["private_metadata"]) == (view_id, "42")
    by_external = await client.views_update(external_id="case-1", view=MODAL, hash=updated["view"]["hash"])
    assert by_external["view"]["id"] == view_id
    with pytest.raises(SlackApiError) as exc:
        await client.views_update(view_id=view_id, view=MODAL, hash="stale")
    assert error_of(exc) == "hash_conflict"
    with pytest.raises(SlackApiError) as exc:
        await client.views_update(view_id="V404", view=MODAL)
    assert error_of(exc) == "not_found"
    assert [e.action for e in slack.views] == ["open", "update", "update"]


async def test_view_limits(slack: FakeSlack, client: AsyncWebClient) -> None:
    long_title = {**MODAL, "title": {"type": "plain_text", "text": "x" * 25}}
    with pytest.raises(SlackApiError) as exc:
        await client.views_open(trigger_id="1.2.3", view=long_title)
    assert error_of(exc) == "invalid_arguments"
    assert "/view/title/text" in exc.value.response["response_metadata"]["messages"][0]
    no_submit = {k: v for k, v in MODAL.items() if k != "submit"}
    with pytest.raises(SlackApiError):
        await client.views_open(trigger_id="1.2.4", view=no_submit)
    assert slack.views == []


async def test_views_publish(slack: FakeSlack, client: AsyncWebClient) -> None:
    home = {"type": "home", "blocks": [SECTION]}
    first = await client.views_publish(user_id="U7", view=home)
    again = await client.views_publish(user_id="U7", view={"type": "home", "blocks": []})
    assert first["view"]["id"] == again["view"]["id"]
    assert slack.home_views["U7"]["blocks"] == []
    assert [(e.action, e.user_id) for e in slack.views] == [("publish", "U7"), ("publish", "U7")]
    with pytest.raises(SlackApiError):
        await client.views_publish(user_id="U7", view=MODAL)


# -- users and conversations -----------------------------------------------------------


async def test_users_info(slack: FakeSlack, client: AsyncWebClient) -> None:
    slack.set_user("U7", "山田 花子", name="hanako", display_name="はなこ")
    user = (await client.users_info(user="U7"))["user"]
    assert (user["real_name"], user["name"], user["profile"]["display_name"]) == (
        "山田 花子",
        "hanako",
        "はなこ",
    )
    assert slack.find_calls("users.info")[0].http_method == "GET"
    with pytest.raises(SlackApiError) as exc:
        await client.users_info(user="U404")
    assert error_of(exc) == "user_not_found"


async def test_conversations_members_pages(slack: FakeSlack, client: AsyncWebClient) -> None:
    slack.set_members("C1", [f"U{i}" for i in range(5)])
    first = await client.conversations_members(channel="C1", limit=2)
    assert first["members"] == ["U0", "U1"]
    pages = [page["members"] async for page in await client.conversations_members(channel="C1", limit=2)]
    assert pages == [["U0", "U1"], ["U2", "U3"], ["U4"]]
    info = await client.conversations_info(channel="C1", include_num_members=True)
    assert (info["channel"]["num_members"], info["channel"]["is_member"]) == (5, False)
    slack.set_channels(["C1"])
    with pytest.raises(SlackApiError) as exc:
        await client.conversations_members(channel="C2")
    assert error_of(exc) == "channel_not_found"


# -- files -----------------------------------------------------------------------------


async def test_files_upload_v2(slack: FakeSlack, client: AsyncWebClient) -> None:
    root = await client.chat_postMessage(channel="C1", text="case 1")
    data = "氏名,件名\n山田,相談\n".encode()
    resp = await client.files_upload_v2(
        channel="C1",
        thread_ts=root["ts"],
        content=data,
        filename="cases.csv",
        title="Cases",
        initial_comment="export",
    )
    assert resp["file"]["name"] == "cases.csv"
    [upload] = slack.uploads
    assert (upload.data, upload.filename, upload.title, upload.length) == (
        data,
        "cases.csv",
        "Cases",
        len(data),
    )
    assert (upload.channel, upload.thread_ts, upload.completed) == ("C1", root["ts"], True)
    [share] = slack.messages_in("C1", root["ts"])
    assert (share["subtype"], share["text"], share["files"][0]["id"]) == (
        "file_share",
        "export",
        upload.file_id,
    )
    assert [r.api_method for r in slack.requests[1:]] == [
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]
    assert "authorization" not in slack.requests[2].headers  # the upload URL carries no token


async def test_failed_upload_is_not_completed(slack: FakeSlack, client: AsyncWebClient) -> None:
    slack.fail_next(500, method="upload")
    with pytest.raises(Exception, match="Failed to upload a file"):
        await client.files_upload_v2(channel="C1", content=b"x", filename="a.txt")
    assert slack.uploads[0].data is None
    assert slack.find_calls("files.completeUploadExternal") == []
    assert slack.messages == []


# -- failures --------------------------------------------------------------------------


async def test_429_has_retry_after(slack: FakeSlack, client: AsyncWebClient) -> None:
    slack.fail_next(429)
    with pytest.raises(SlackApiError) as exc:
        await client.chat_postMessage(channel="C1", text="x")
    assert exc.value.response.status_code == 429
    assert exc.value.response.headers["Retry-After"] == "1"
    assert error_of(exc) == "ratelimited"
    assert slack.messages == []


async def test_429_retried_by_the_rate_limit_handler(slack: FakeSlack) -> None:
    slack.retry_after = 0  # the handler sleeps int(Retry-After) + random() seconds
    handler = AsyncRateLimitErrorRetryHandler(max_retry_count=1)
    client = AsyncWebClient(token=TOKEN, base_url=slack.api_url, retry_handlers=[handler])
    slack.fail_next(429)
    resp = await client.chat_postMessage(channel="C1", text="x")
    assert resp["ok"]
    assert [r.status for r in slack.requests] == [429, 200]
    assert len(slack.messages) == 1


async def test_500(slack: FakeSlack, client: AsyncWebClient) -> None:
    slack.fail_next(500)
    with pytest.raises(SlackApiError) as exc:
        await client.chat_postMessage(channel="C1", text="x")
    assert exc.value.response.status_code == 500
    assert slack.messages == []


async def test_drop_is_a_connection_error(slack: FakeSlack, client: AsyncWebClient) -> None:
    slack.fail_next("drop")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await client.chat_postMessage(channel="C1", text="x")
    assert slack.requests[-1].status == 0
    assert slack.messages == []


async def test_default_client_resends_after_a_disconnect(slack: FakeSlack) -> None:
    # AsyncWebClient's default retry handlers resend once after ServerDisconnectedError,
    # even for chat.postMessage: a lost response therefore becomes a duplicate post.
    [default] = AsyncWebClient().retry_handlers
    assert type(default) is AsyncConnectionErrorRetryHandler and default.max_retry_count == 1
    no_wait = AsyncConnectionErrorRetryHandler(interval_calculator=FixedValueRetryIntervalCalculator(0.0))
    client = AsyncWebClient(token=TOKEN, base_url=slack.api_url, retry_handlers=[no_wait])
    slack.fail_next("drop")
    await client.chat_postMessage(channel="C1", text="a")
    assert len(slack.messages) == 1
    slack.fail_next("lost_response")
    await client.chat_postMessage(channel="C1", text="b")
    assert slack.texts_in("C1") == ["a", "b", "b"]


async def test_lost_response_takes_effect(slack: FakeSlack, client: AsyncWebClient) -> None:
    slack.fail_next("lost_response")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await client.chat_postMessage(channel="C1", text="x")
    rec = slack.requests[-1]
    assert rec.status == 0
    assert rec.response is not None and rec.response["ok"]
    assert slack.texts_in("C1") == ["x"]


async def test_timeout_hangs_past_the_client_timeout(slack: FakeSlack) -> None:
    slack.fail_next("timeout")
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.2)) as session:
        client = AsyncWebClient(token=TOKEN, base_url=slack.api_url, session=session, retry_handlers=[])
        with pytest.raises(TimeoutError):
            await client.chat_postMessage(channel="C1", text="x")
    assert slack.requests[-1].status == 0
    assert slack.messages == []


async def test_timeout_answers_500_after_hang_seconds(slack: FakeSlack, client: AsyncWebClient) -> None:
    slack.hang_seconds = 0.05
    slack.fail_next("timeout")
    with pytest.raises(SlackApiError) as exc:
        await client.chat_postMessage(channel="C1", text="x")
    assert exc.value.response.status_code == 500
    assert slack.messages == []


async def test_fail_next_method_filter_and_error_codes(slack: FakeSlack, client: AsyncWebClient) -> None:
    slack.fail_next("error:is_archived", method="chat.postMessage")
    await client.auth_test()
    with pytest.raises(SlackApiError) as exc:
        await client.chat_postMessage(channel="C1", text="x")
    assert (exc.value.response.status_code, error_of(exc)) == (200, "is_archived")
    await client.chat_postMessage(channel="C1", text="x")
    assert [r.status for r in slack.requests] == [200, 200, 200]
    with pytest.raises(ValueError):
        slack.fail_next("tiemout")
    with pytest.raises(SlackApiError) as exc:
        await client.api_call("chat.nope")
    assert (exc.value.response.status_code, error_of(exc)) == (404, "unknown_method")


async def test_per_channel_rate_limit() -> None:
    clock = Clock()
    async with FakeSlack(rate_limit_per_channel=1.0) as slack:
        slack.now = clock
        client = AsyncWebClient(token=TOKEN, base_url=slack.api_url, retry_handlers=[])
        await client.chat_postMessage(channel="C1", text="a")
        await client.chat_postMessage(channel="C2", text="b")
        clock.t += 0.5
        with pytest.raises(SlackApiError) as exc:
            await client.chat_postMessage(channel="C1", text="c")
        assert (exc.value.response.status_code, exc.value.response.headers["Retry-After"]) == (429, "1")
        await client.chat_update(channel="C1", ts=slack.messages[0]["ts"], text="edited")  # not limited
        clock.t += 0.5
        await client.chat_postMessage(channel="C1", text="c")
        assert [m["text"] for m in slack.messages] == ["edited", "b", "c"]


# -- signing ---------------------------------------------------------------------------


def test_signature_matches_the_sdk_verifier() -> None:
    body, content_type = ss.event_callback(ss.message_event("C1", "U7", "こんにちは"))
    headers = ss.signed_headers(SECRET, body)
    assert headers["Content-Type"] == content_type == "application/json"
    verifier = SignatureVerifier(SECRET)
    assert verifier.is_valid_request(body, headers)
    ts = headers["X-Slack-Request-Timestamp"]
    assert ss.sign(SECRET, ts, body) == verifier.generate_signature(timestamp=ts, body=body)
    assert not verifier.is_valid_request(body + b" ", headers)
    stale = ss.signed_headers(SECRET, body, timestamp=int(time.time()) - 301)
    assert not verifier.is_valid_request(body, stale)
    form, form_type = ss.slash_command("/madoguchi", "help", "U7", "C1")
    assert ss.signed_headers(SECRET, form)["Content-Type"] == form_type


def test_builders_have_slack_shapes() -> None:
    first, _ = ss.event_callback(ss.message_event("C1", "U7", "a"))
    second, _ = ss.event_callback(ss.message_event("C1", "U7", "a"))
    one, two = json.loads(first), json.loads(second)
    assert one["event_id"].startswith("Ev") and one["event_id"] != two["event_id"]
    assert (one["type"], one["api_app_id"], one["team_id"]) == ("event_callback", "A1", "T1")
    assert one["event"]["ts"] < two["event"]["ts"]
    body, content_type = ss.block_action("U7", "claim", "42", channel="C1", message_ts="1.000001")
    assert content_type == "application/x-www-form-urlencoded"
    [(key, value)] = parse_qsl(body.decode())
    payload = json.loads(value)
    assert key == "payload"
    assert (payload["type"], payload["user"]["id"], payload["actions"][0]["action_id"]) == (
        "block_actions",
        "U7",
        "claim",
    )
    assert payload["container"] == {
        "type": "message",
        "message_ts": "1.000001",
        "channel_id": "C1",
        "is_ephemeral": False,
    }
    form = dict(parse_qsl(ss.slash_command("/madoguchi", "a b", "U7", "C1")[0].decode()))
    assert (form["command"], form["text"], form["user_id"], form["channel_id"]) == (
        "/madoguchi",
        "a b",
        "U7",
        "C1",
    )


# -- Bolt ------------------------------------------------------------------------------


class Bolt:
    """A real AsyncApp served over HTTP, mounted on our own aiohttp app at /slack/events."""

    def __init__(self, app: AsyncApp, url: str) -> None:
        self.app = app
        self.url = url
        self.seen: list[tuple[str, dict[str, Any]]] = []
        self.arrived = asyncio.Event()

    def note(self, kind: str, body: dict[str, Any]) -> None:
        self.seen.append((kind, body))
        self.arrived.set()

    async def wait(self, count: int = 1) -> None:
        async with asyncio.timeout(2):
            while len(self.seen) < count:
                self.arrived.clear()
                await self.arrived.wait()

    async def post(self, body: tuple[bytes, str], **kwargs: Any) -> tuple[int, str]:
        return await ss.post_signed(self.url, SECRET, body, **kwargs)


def _bolt_app(slack: FakeSlack, *, process_before_response: bool = False) -> AsyncApp:
    client = AsyncWebClient(token=TOKEN, base_url=slack.api_url)
    return AsyncApp(
        signing_secret=SECRET,
        client=client,
        process_before_response=process_before_response,
    )


async def _serve(app: AsyncApp) -> tuple[web.AppRunner, str]:
    async def slack_events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    web_app = web.Application()
    web_app.router.add_post("/slack/events", slack_events)
    runner = web.AppRunner(web_app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = int(runner.addresses[0][1])
    return runner, f"http://127.0.0.1:{port}/slack/events"


@pytest.fixture
async def bolt(slack: FakeSlack) -> AsyncIterator[Bolt]:
    app = _bolt_app(slack)
    runner, url = await _serve(app)
    b = Bolt(app, url)

    @app.event("message")
    async def on_message(event: dict[str, Any], say: AsyncSay) -> None:
        b.note("message", event)
        if event.get("text") == "ping":
            await say(text="pong", thread_ts=event["ts"])
            b.note("said", event)

    @app.action("claim")
    async def on_claim(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        b.note("action", body)

    @app.view("reply")
    async def on_reply(ack: AsyncAck, view: dict[str, Any]) -> None:
        if not view["state"]["values"]["body"]["text"]["value"].strip():
            await ack(response_action="errors", errors={"body": "本文を入力してください"})
        else:
            await ack()
        b.note("view", view)

    @app.command("/madoguchi")
    async def on_command(ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        await ack(text="受け付けました")
        b.note("command", command)
        await respond(text="done", response_type="ephemeral")
        b.note("responded", command)

    yield b
    await runner.cleanup()


async def test_bolt_event_reaches_the_listener(slack: FakeSlack, bolt: Bolt) -> None:
    # Register the person's message so the fake knows the thread the bot replies in.
    human = slack.add_user_message("C1", "U7", "ping")
    event = ss.message_event("C1", "U7", "ping", ts=human["ts"])
    status, text = await bolt.post(ss.event_callback(event))
    assert (status, text) == (200, "")
    await bolt.wait(2)
    assert bolt.seen[0] == ("message", event)
    assert slack.texts_in("C1", human["ts"]) == ["pong"]


async def test_bolt_calls_auth_test_once(slack: FakeSlack, bolt: Bolt) -> None:
    for text in ("a", "b"):
        await bolt.post(ss.event_callback(ss.message_event("C1", "U7", text)))
    await bolt.wait(2)
    assert len(slack.find_calls("auth.test")) == 1


async def test_bolt_drops_its_own_messages(slack: FakeSlack, bolt: Bolt) -> None:
    status, _ = await bolt.post(ss.event_callback(ss.message_event("C1", "U_BOT", "self")))
    assert status == 200
    await bolt.post(ss.event_callback(ss.message_event("C1", "U7", "other")))
    await bolt.wait()
    assert [body["text"] for _, body in bolt.seen] == ["other"]


async def test_bolt_redelivery_is_dispatched_again(bolt: Bolt) -> None:
    # Bolt does not deduplicate: a retry (same event_id, X-Slack-Retry-Num) runs the listener again.
    event_id = ss.new_event_id()
    event = ss.message_event("C1", "U7", "hello")
    await bolt.post(ss.event_callback(event, event_id=event_id))
    await bolt.post(ss.event_callback(event, event_id=event_id), retry_num=1)
    await bolt.wait(2)
    assert len(bolt.seen) == 2


async def test_bolt_block_action(slack: FakeSlack, bolt: Bolt) -> None:
    card = await AsyncWebClient(token=TOKEN, base_url=slack.api_url).chat_postMessage(
        channel="C1", text="case", blocks=[SECTION]
    )
    message = slack.message("C1", card["ts"])
    status, text = await bolt.post(ss.block_action("U7", "claim", "42", message=message))
    assert (status, text) == (200, "")
    await bolt.wait()
    kind, body = bolt.seen[0]
    assert kind == "action"
    assert (body["actions"][0]["value"], body["user"]["id"]) == ("42", "U7")
    assert (body["channel"]["id"], body["container"]["message_ts"]) == ("C1", card["ts"])
    assert body["message"]["blocks"] == [SECTION]


async def test_bolt_view_submission(bolt: Bolt) -> None:
    status, text = await bolt.post(ss.view_submission("U7", "reply", {"body": {"text": " "}}, "case:42"))
    assert status == 200
    assert json.loads(text) == {"response_action": "errors", "errors": {"body": "本文を入力してください"}}
    status, text = await bolt.post(
        ss.view_submission("U7", "reply", {"body": {"text": "回答です"}}, "case:42")
    )
    assert (status, text) == (200, "")
    await bolt.wait(2)
    assert bolt.seen[1][1]["private_metadata"] == "case:42"


async def test_bolt_slash_command_and_respond(slack: FakeSlack, bolt: Bolt) -> None:
    body = ss.slash_command(
        "/madoguchi", "status 42", "U7", "C1", response_url=slack.response_url("commands")
    )
    status, text = await bolt.post(body)
    assert (status, text) == (200, "受け付けました")
    await bolt.wait(2)
    assert bolt.seen[0][1]["text"] == "status 42"
    [(path, posted)] = slack.webhook_posts
    assert path.startswith("/hooks/commands/")
    assert posted == {"text": "done", "response_type": "ephemeral"}


async def test_bolt_rejects_forged_and_stale(slack: FakeSlack, bolt: Bolt) -> None:
    body = ss.event_callback(ss.message_event("C1", "U7", "x"))
    assert (await ss.post_signed(bolt.url, "wrong-secret", body))[0] == 401
    stale = int(time.time()) - 301
    assert (await bolt.post(body, timestamp=stale))[0] == 401
    assert (await bolt.post(body, timestamp=int(time.time()) + 301))[0] == 401
    async with aiohttp.ClientSession() as session, session.post(bolt.url, data=body[0]) as resp:
        assert resp.status == 401  # unsigned
    assert bolt.seen == []
    assert slack.find_calls("auth.test") == []  # verification runs before authorization


async def test_bolt_url_verification(bolt: Bolt) -> None:
    status, text = await bolt.post(ss.url_verification("abc123"))
    assert (status, json.loads(text)) == (200, {"challenge": "abc123"})


async def test_bolt_when_auth_test_fails(slack: FakeSlack, bolt: Bolt) -> None:
    # A failed auth.test is not an HTTP error: Bolt answers 200 with an apology text and
    # drops the request; the next request tries auth.test again.
    slack.fail_next("error:invalid_auth", method="auth.test")
    status, text = await bolt.post(ss.event_callback(ss.message_event("C1", "U7", "x")))
    assert status == 200 and "reinstall" in text
    await bolt.post(ss.event_callback(ss.message_event("C1", "U7", "y")))
    await bolt.wait()
    assert [body["text"] for _, body in bolt.seen] == ["y"]
    assert len(slack.find_calls("auth.test")) == 2


async def _answered_before_listener_returned(slack: FakeSlack, *, process_before_response: bool) -> bool:
    app = _bolt_app(slack, process_before_response=process_before_response)
    release = asyncio.Event()
    finished = asyncio.Event()

    @app.action("claim")
    async def slow(ack: AsyncAck) -> None:
        await ack()
        await release.wait()
        finished.set()

    runner, url = await _serve(app)
    try:
        post = asyncio.ensure_future(ss.post_signed(url, SECRET, ss.block_action("U7", "claim", "1")))
        await asyncio.sleep(0.1)
        answered_early = post.done()
        release.set()
        assert (await post)[0] == 200
        await asyncio.wait_for(finished.wait(), 2)
        return answered_early
    finally:
        await runner.cleanup()


async def test_bolt_ack_timing(slack: FakeSlack) -> None:
    """Without process_before_response the HTTP answer goes out at ack() and the listener
    keeps running as a background task; with it, the answer waits for the listener."""
    assert await _answered_before_listener_returned(slack, process_before_response=False)
    assert not await _answered_before_listener_returned(slack, process_before_response=True)
