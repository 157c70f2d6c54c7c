"""The fake LINE platform, driven through the real line-bot-sdk async client over HTTP."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from linebot.v3 import WebhookParser
from linebot.v3.exceptions import InvalidSignatureError
from linebot.v3.messaging import (
    ApiException,
    AsyncApiClient,
    AsyncMessagingApi,
    AsyncMessagingApiBlob,
    Configuration,
    ConfirmTemplate,
    FlexBox,
    FlexBubble,
    FlexCarousel,
    FlexMessage,
    FlexText,
    MessageAction,
    MulticastRequest,
    PostbackAction,
    PushMessageRequest,
    QuickReply,
    QuickReplyItem,
    ReplyMessageRequest,
    RichMenuArea,
    RichMenuBounds,
    RichMenuRequest,
    RichMenuSize,
    ShowLoadingAnimationRequest,
    TemplateMessage,
    TextMessage,
)
from linebot.v3.webhook import SignatureValidator
from linebot.v3.webhooks import (
    FileMessageContent,
    FollowEvent,
    ImageMessageContent,
    JoinEvent,
    LeaveEvent,
    LocationMessageContent,
    MessageEvent,
    PostbackEvent,
    StickerMessageContent,
    TextMessageContent,
    UnfollowEvent,
)

from bot.sandbox import line_webhook as wh
from bot.sandbox.fake_line import MONTHLY_LIMIT, FakeLine

SECRET = "0123456789abcdef0123456789abcdef"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Sdk:
    def __init__(self, client: AsyncApiClient) -> None:
        self.client = client
        self.api = AsyncMessagingApi(client)
        self.blob = AsyncMessagingApiBlob(client)


@pytest.fixture
async def line() -> AsyncIterator[FakeLine]:
    async with FakeLine() as fake:
        yield fake


def _client(line: FakeLine, token: str | None = None) -> AsyncApiClient:
    config = Configuration(host=line.base_url, access_token=token or line.access_token)
    return AsyncApiClient(config)


@pytest.fixture
async def sdk(line: FakeLine) -> AsyncIterator[Sdk]:
    client = _client(line)
    yield Sdk(client)
    await client.close()


def push(to: str = "U1", text: str = "hi") -> PushMessageRequest:
    return PushMessageRequest(to=to, messages=[TextMessage(text=text)])


def error_of(exc: pytest.ExceptionInfo[ApiException]) -> dict[str, Any]:
    body = json.loads(exc.value.body)
    assert isinstance(body, dict)
    return body


# -- push and reply ------------------------------------------------------------------


async def test_push_is_accepted_and_recorded(line: FakeLine, sdk: Sdk) -> None:
    resp = await sdk.api.push_message_with_http_info(push(text="こんにちは"))
    assert resp.status_code == 200
    assert resp.headers["x-line-request-id"]
    assert len(resp.data.sent_messages) == 1
    assert line.sent_messages() == [("push", "U1", {"type": "text", "text": "こんにちは"})]
    rec = line.requests[-1]
    assert (rec.method, rec.path, rec.status) == ("POST", "/v2/bot/message/push", 200)
    assert rec.headers["authorization"] == "Bearer test-access-token"
    # The SDK sends the model's defaults too.
    assert rec.json == {
        "to": "U1",
        "messages": [{"type": "text", "text": "こんにちは"}],
        "notificationDisabled": False,
    }


async def test_wrong_token_is_401(line: FakeLine) -> None:
    async with _client(line, token="nope") as client:
        with pytest.raises(ApiException) as exc:
            await AsyncMessagingApi(client).push_message(push())
    assert exc.value.status == 401
    assert error_of(exc)["message"].startswith("Authentication failed.")
    assert line.sent_messages() == []


async def test_reply_token_works_once_for_its_user(line: FakeLine, sdk: Sdk) -> None:
    token = line.issue_reply_token("U7")
    req = ReplyMessageRequest(reply_token=token, messages=[TextMessage(text="ok")])
    resp = await sdk.api.reply_message(req)
    assert len(resp.sent_messages) == 1
    assert line.sent_messages("U7") == [("reply", "U7", {"type": "text", "text": "ok"})]
    with pytest.raises(ApiException) as exc:
        await sdk.api.reply_message(req)
    assert exc.value.status == 400
    assert error_of(exc) == {"message": "Invalid reply token"}
    assert len(line.sent_messages()) == 1


async def test_reply_token_expires_after_a_minute(line: FakeLine, sdk: Sdk) -> None:
    clock = Clock()
    line.now = clock
    fresh, stale = line.issue_reply_token("U1"), line.issue_reply_token("U1")
    clock.t += 60
    await sdk.api.reply_message(ReplyMessageRequest(reply_token=fresh, messages=[TextMessage(text="a")]))
    clock.t += 1
    with pytest.raises(ApiException) as exc:
        await sdk.api.reply_message(ReplyMessageRequest(reply_token=stale, messages=[TextMessage(text="b")]))
    assert error_of(exc) == {"message": "Invalid reply token"}
    with pytest.raises(ApiException):
        await sdk.api.reply_message(ReplyMessageRequest(reply_token="nope", messages=[TextMessage(text="c")]))


async def test_reply_refuses_a_retry_key(line: FakeLine, sdk: Sdk) -> None:
    req = ReplyMessageRequest(reply_token=line.issue_reply_token("U1"), messages=[TextMessage(text="a")])
    with pytest.raises(ApiException) as exc:
        await sdk.api.reply_message(req, _headers={"X-Line-Retry-Key": str(uuid.uuid4())})
    assert exc.value.status == 400
    assert line.sent_messages() == []


# -- validation the SDK does not do (or that we bypass with .construct) ------------------


async def test_more_than_five_messages_is_400(line: FakeLine, sdk: Sdk) -> None:
    req = PushMessageRequest.construct(to="U1", messages=[TextMessage(text=str(i)) for i in range(6)])
    with pytest.raises(ApiException) as exc:
        await sdk.api.push_message(req)
    assert exc.value.status == 400
    assert error_of(exc)["details"][0]["property"] == "messages"
    assert line.sent_messages() == []


async def test_text_limit_counts_utf16_units(line: FakeLine, sdk: Sdk) -> None:
    await sdk.api.push_message(push(text="a" * 5000))
    await sdk.api.push_message(push(text="😀" + "a" * 4998))
    with pytest.raises(ApiException) as exc:
        await sdk.api.push_message(push(text="😀" + "a" * 4999))  # 5,000 code points, 5,001 units
    assert exc.value.status == 400
    assert error_of(exc)["details"] == [
        {"message": "Length must be between 0 and 5000", "property": "messages[0].text"}
    ]
    with pytest.raises(ApiException):
        await sdk.api.push_message(push(text="a" * 5001))
    assert len(line.sent_messages()) == 2


def _quick_reply(n: int, label: str = "label") -> QuickReply:
    items = [QuickReplyItem(action=MessageAction(label=label, text=str(i))) for i in range(n)]
    return QuickReply.construct(items=items)


async def test_quick_reply_limits(line: FakeLine, sdk: Sdk) -> None:
    ok = TextMessage(text="pick", quick_reply=_quick_reply(13))
    await sdk.api.push_message(PushMessageRequest(to="U1", messages=[ok]))
    too_many = TextMessage(text="pick", quick_reply=_quick_reply(14))
    with pytest.raises(ApiException) as exc:
        await sdk.api.push_message(PushMessageRequest(to="U1", messages=[too_many]))
    assert error_of(exc)["details"][0]["property"] == "messages[0].quickReply.items"
    long_label = TextMessage(text="pick", quick_reply=_quick_reply(1, label="x" * 21))
    with pytest.raises(ApiException) as exc:
        await sdk.api.push_message(PushMessageRequest(to="U1", messages=[long_label]))
    assert error_of(exc)["details"][0]["property"] == "messages[0].quickReply.items[0].action.label"
    # Labels count characters (grapheme clusters), not UTF-16 units: 20 emoji are 40 units and fit.
    emoji = TextMessage(text="pick", quick_reply=_quick_reply(1, label="🌊" * 20))
    await sdk.api.push_message(PushMessageRequest(to="U1", messages=[emoji]))
    assert len(line.sent_messages()) == 2


def _confirm(text: str, label: str = "はい") -> TemplateMessage:
    actions: list[Any] = [PostbackAction(label=label, data="yes"), PostbackAction(label="いいえ", data="no")]
    return TemplateMessage(alt_text=text[:400], template=ConfirmTemplate(text=text, actions=actions))


def _carousel(n: int) -> FlexMessage:
    bubble = FlexBubble(body=FlexBox(layout="vertical", contents=[FlexText(text="x")]))
    return FlexMessage(alt_text="cards", contents=FlexCarousel(contents=[bubble] * n))


async def test_confirm_and_carousel_limits(line: FakeLine, sdk: Sdk) -> None:
    """What LINE refuses with a 400 and its error shape: confirm text over 240, a 21-character
    action label, a carousel of 13 bubbles."""
    for ok in (_confirm("あ" * 240), _carousel(12)):
        await sdk.api.push_message(PushMessageRequest(to="U1", messages=[ok]))
    refused = [
        (_confirm("あ" * 241), "messages[0].template.text"),
        (_confirm("ok", label="x" * 21), "messages[0].template.actions[0].label"),
        (_carousel(13), "messages[0].contents.contents"),
    ]
    for message, where in refused:
        with pytest.raises(ApiException) as exc:
            await sdk.api.push_message(PushMessageRequest(to="U1", messages=[message]))
        assert exc.value.status == 400
        body = error_of(exc)
        assert body["message"] == "The request body has 1 error(s)"
        assert body["details"][0]["property"] == where
    assert len(line.sent_messages()) == 2


async def test_multicast_recipient_limits(line: FakeLine, sdk: Sdk) -> None:
    line.quota = 1000
    for to in ([f"U{i}" for i in range(501)], []):
        req = MulticastRequest.construct(to=to, messages=[TextMessage(text="x")])
        with pytest.raises(ApiException) as exc:
            await sdk.api.multicast(req)
        assert exc.value.status == 400
        assert error_of(exc)["details"][0]["property"] == "to"
    users = [f"U{i}" for i in range(500)]
    assert await sdk.api.multicast(MulticastRequest(to=users, messages=[TextMessage(text="x")])) == {}
    assert len(line.sent_messages()) == 1
    assert line.sent_messages("U499")[0].kind == "multicast"
    assert (await sdk.api.get_message_quota_consumption()).total_usage == 500


# -- retry keys and failures -----------------------------------------------------------


async def test_retry_key_must_be_a_uuid(line: FakeLine, sdk: Sdk) -> None:
    with pytest.raises(ApiException) as exc:
        await sdk.api.push_message(push(), x_line_retry_key="not-a-uuid")
    assert exc.value.status == 400
    assert line.sent_messages() == []


async def test_same_retry_key_twice_is_409(line: FakeLine, sdk: Sdk) -> None:
    key = str(uuid.uuid4())
    first = await sdk.api.push_message_with_http_info(push(), x_line_retry_key=key)
    with pytest.raises(ApiException) as exc:
        await sdk.api.push_message(push(), x_line_retry_key=key)
    assert exc.value.status == 409
    body = error_of(exc)
    assert body["message"] == "The retry key is already accepted"
    assert body["sentMessages"][0]["id"] == first.data.sent_messages[0].id
    assert exc.value.headers["x-line-accepted-request-id"] == first.headers["x-line-request-id"]
    assert len(line.sent_messages()) == 1
    assert line.usage == 1


async def test_fail_500_then_success_with_same_key(line: FakeLine, sdk: Sdk) -> None:
    key = str(uuid.uuid4())
    line.fail_next(500)
    with pytest.raises(ApiException) as exc:
        await sdk.api.push_message(push(), x_line_retry_key=key)
    assert exc.value.status == 500
    assert error_of(exc) == {"message": "Internal server error"}
    await sdk.api.push_message(push(), x_line_retry_key=key)  # not 409: the failure was not accepted
    assert [r.status for r in line.requests] == [500, 200]
    assert len(line.sent_messages()) == 1


async def test_fail_429_has_no_retry_after(line: FakeLine, sdk: Sdk) -> None:
    line.fail_next(429)
    with pytest.raises(ApiException) as exc:
        await sdk.api.push_message(push())
    assert exc.value.status == 429
    assert "Retry-After" not in exc.value.headers
    assert error_of(exc) == {"message": "Too Many Requests"}


async def test_fail_next_path_filter(line: FakeLine, sdk: Sdk) -> None:
    line.set_profile("U1", "Hanako")
    line.fail_next(500, path="/v2/bot/message/push")
    assert (await sdk.api.get_profile("U1")).display_name == "Hanako"
    with pytest.raises(ApiException):
        await sdk.api.push_message(push())
    await sdk.api.push_message(push())


async def test_drop_is_a_connection_error(line: FakeLine, sdk: Sdk) -> None:
    key = str(uuid.uuid4())
    line.fail_next("drop")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await sdk.api.push_message(push(), x_line_retry_key=key)
    assert line.requests[-1].status == 0
    assert line.sent_messages() == []
    await sdk.api.push_message(push(), x_line_retry_key=key)
    assert len(line.sent_messages()) == 1


async def test_drop_on_a_get_is_retried_by_aiohttp(line: FakeLine, sdk: Sdk) -> None:
    # aiohttp silently resends an idempotent request (GET, DELETE) once after a disconnect,
    # so one "drop" on a GET never reaches the caller; two do.
    line.set_profile("U1", "Hanako")
    line.fail_next("drop")
    assert (await sdk.api.get_profile("U1")).display_name == "Hanako"
    assert [r.status for r in line.requests] == [0, 200]
    line.fail_next("drop", "drop")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await sdk.api.get_profile("U1")


async def test_timeout_hangs_past_the_client_timeout(line: FakeLine, sdk: Sdk) -> None:
    line.hang_seconds = 30
    line.fail_next("timeout")
    with pytest.raises(TimeoutError):
        await sdk.api.push_message(push(), _request_timeout=0.2)
    assert line.requests[-1].status == 0
    assert line.sent_messages() == []
    # close() releases the hanging handler at once instead of waiting 30 s.


async def test_timeout_answers_500_after_hang_seconds(line: FakeLine, sdk: Sdk) -> None:
    line.hang_seconds = 0.05
    line.fail_next("timeout")
    with pytest.raises(ApiException) as exc:
        await sdk.api.push_message(push())
    assert exc.value.status == 500
    assert line.requests[-1].status == 500


# -- quota -----------------------------------------------------------------------------


async def test_monthly_limit() -> None:
    async with FakeLine(quota=3) as line, _client(line) as client:
        api = AsyncMessagingApi(client)
        await api.push_message(PushMessageRequest(to="U1", messages=[TextMessage(text="a")] * 2))
        with pytest.raises(ApiException) as exc:
            await api.push_message(PushMessageRequest(to="U1", messages=[TextMessage(text="b")] * 2))
        assert exc.value.status == 429
        assert error_of(exc) == {"message": MONTHLY_LIMIT}
        await api.push_message(push())  # exactly at the limit
        token = line.issue_reply_token("U1")
        free = ReplyMessageRequest(reply_token=token, messages=[TextMessage(text="free")])
        await api.reply_message(free)
        assert (await api.get_message_quota_consumption()).total_usage == 3
        line.fail_next("monthly_limit")
        with pytest.raises(ApiException) as exc:
            await api.get_message_quota()
        assert (exc.value.status, error_of(exc)["message"]) == (429, MONTHLY_LIMIT)


async def test_quota_and_consumption(line: FakeLine, sdk: Sdk) -> None:
    quota = await sdk.api.get_message_quota()
    assert (quota.type.value, quota.value) == ("limited", 200)
    await sdk.api.multicast(
        MulticastRequest(to=["U1", "U2", "U3"], messages=[TextMessage(text="a"), TextMessage(text="b")])
    )
    await sdk.api.push_message(push())
    token = line.issue_reply_token("U1")
    await sdk.api.reply_message(ReplyMessageRequest(reply_token=token, messages=[TextMessage(text="r")]))
    assert (await sdk.api.get_message_quota_consumption()).total_usage == 7
    assert [m.kind for m in line.sent_messages("U1")] == ["multicast", "multicast", "push", "reply"]
    assert line.sent_texts("U2") == ["a", "b"]


# -- other endpoints --------------------------------------------------------------------


async def test_profile_and_group_summary(line: FakeLine, sdk: Sdk) -> None:
    line.set_profile("U1", "山田 花子", language="ja")
    profile = await sdk.api.get_profile("U1")
    assert (profile.display_name, profile.user_id, profile.language) == ("山田 花子", "U1", "ja")
    with pytest.raises(ApiException) as exc:
        await sdk.api.get_profile("U404")
    assert (exc.value.status, error_of(exc)) == (404, {"message": "Not found"})
    line.set_group("C1", "鶴見区民活動支援センター")
    assert (await sdk.api.get_group_summary("C1")).group_name == "鶴見区民活動支援センター"


async def test_loading_animation(line: FakeLine, sdk: Sdk) -> None:
    resp = await sdk.api.show_loading_animation_with_http_info(
        ShowLoadingAnimationRequest(chat_id="U1", loading_seconds=10)
    )
    assert resp.status_code == 202
    with pytest.raises(ApiException) as exc:
        await sdk.api.show_loading_animation(ShowLoadingAnimationRequest(chat_id="U1", loading_seconds=7))
    assert exc.value.status == 400


async def test_message_content(line: FakeLine, sdk: Sdk) -> None:
    line.set_content("42", b"\xff\xd8jpeg", "image/jpeg")
    assert bytes(await sdk.blob.get_message_content("42")) == b"\xff\xd8jpeg"
    with pytest.raises(ApiException) as exc:
        await sdk.blob.get_message_content("43")
    assert exc.value.status == 404


def _rich_menu() -> RichMenuRequest:
    return RichMenuRequest(
        size=RichMenuSize(width=2500, height=843),
        selected=False,
        name="main",
        chat_bar_text="メニュー",
        areas=[
            RichMenuArea(
                bounds=RichMenuBounds(x=0, y=0, width=2500, height=843),
                action=PostbackAction(data="menu=consult"),
            )
        ],
    )


async def test_rich_menu_lifecycle(line: FakeLine, sdk: Sdk) -> None:
    menu_id = (await sdk.api.create_rich_menu(_rich_menu())).rich_menu_id
    assert menu_id.startswith("richmenu-")
    with pytest.raises(ApiException) as exc:  # LINE needs the image first
        await sdk.api.set_default_rich_menu(menu_id)
    assert exc.value.status == 400
    # The blob API ignores _content_type; the image type must go in _headers.
    await sdk.blob.set_rich_menu_image(menu_id, body=PNG, _headers={"Content-Type": "image/png"})
    assert line.rich_menus[menu_id].image == PNG
    assert line.requests[-1].headers["content-type"] == "image/png"
    await sdk.api.set_default_rich_menu(menu_id)
    assert (await sdk.api.get_default_rich_menu_id()).rich_menu_id == menu_id
    menus = (await sdk.api.get_rich_menu_list()).richmenus
    assert [m.rich_menu_id for m in menus] == [menu_id]
    assert menus[0].areas[0].action.data == "menu=consult"
    with pytest.raises(ApiException) as exc:
        await sdk.api.set_default_rich_menu("richmenu-unknown")
    assert exc.value.status == 404
    await sdk.api.delete_rich_menu(menu_id)
    assert line.rich_menus == {} and line.default_rich_menu is None


async def test_rich_menu_validation(line: FakeLine, sdk: Sdk) -> None:
    bad = RichMenuRequest.construct(
        size=RichMenuSize(width=2500, height=843), selected=False, name="x", chat_bar_text="x", areas=[]
    )
    with pytest.raises(ApiException) as exc:
        await sdk.api.create_rich_menu(bad)
    assert error_of(exc)["details"][0]["property"] == "areas"
    assert line.rich_menus == {}


# -- webhooks --------------------------------------------------------------------------


def _all_events() -> list[dict[str, Any]]:
    return [
        wh.text_event("U1", "相談したい 😀", reply_token="rt"),
        wh.postback_event("U1", "action=claim&case=1"),
        wh.follow_event("U1"),
        wh.unfollow_event("U1"),
        wh.sticker_event("U1"),
        wh.image_event("U1", message_id="100"),
        wh.file_event("U1"),
        wh.location_event("U1", title="センター"),
        wh.join_event("C1"),
        wh.leave_event("C1"),
        wh.text_event("U2", "出席します", group_id="C1"),
    ]


def test_webhook_signature_and_shapes_match_the_sdk() -> None:
    events = _all_events()
    body = wh.webhook_body(events, destination="Ubot")
    assert "相談したい 😀".encode() in body and b": " not in body
    headers = wh.signed_headers(SECRET, body)
    assert SignatureValidator(SECRET).validate(body.decode("utf-8"), headers["X-Line-Signature"])
    payload = WebhookParser(SECRET).parse(body.decode("utf-8"), headers["X-Line-Signature"], as_payload=True)
    assert payload.destination == "Ubot"
    parsed = payload.events
    expected = [
        MessageEvent,
        PostbackEvent,
        FollowEvent,
        UnfollowEvent,
        MessageEvent,
        MessageEvent,
        MessageEvent,
        MessageEvent,
        JoinEvent,
        LeaveEvent,
        MessageEvent,
    ]
    assert [type(e) for e in parsed] == expected
    contents = [type(e.message) for e in parsed if isinstance(e, MessageEvent)]
    assert contents == [
        TextMessageContent,
        StickerMessageContent,
        ImageMessageContent,
        FileMessageContent,
        LocationMessageContent,
        TextMessageContent,
    ]
    assert parsed[0].reply_token == "rt" and parsed[0].message.text == "相談したい 😀"
    assert parsed[5].message.id == "100"
    assert parsed[10].source.group_id == "C1" and parsed[10].source.user_id == "U2"
    ids = [e["webhookEventId"] for e in events]
    assert len(set(ids)) == len(ids) and all(len(i) == 26 for i in ids)
    assert "replyToken" not in events[3] and "replyToken" in events[2]
    with pytest.raises(InvalidSignatureError):
        WebhookParser("other-secret").parse(body.decode("utf-8"), headers["X-Line-Signature"])


async def test_post_webhook_sends_signed_raw_body() -> None:
    seen: list[bool] = []

    async def handler(request: web.Request) -> web.Response:
        raw = await request.text()
        seen.append(SignatureValidator(SECRET).validate(raw, request.headers["X-Line-Signature"]))
        return web.Response(text="OK")

    app = web.Application()
    app.router.add_post("/line/webhook", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/line/webhook"
    try:
        assert await wh.post_webhook(url, SECRET, [wh.text_event("U1", "こんにちは")]) == (200, "OK")
        assert await wh.post_webhook(url, SECRET, []) == (200, "OK")  # verification request
    finally:
        await runner.cleanup()
    assert seen == [True, True]
