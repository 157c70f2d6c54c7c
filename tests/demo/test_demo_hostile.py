"""Hostile input typed into the demo page's endpoints: the page keeps working (review 40, R10).

Half an emoji (a lone `\\ud800` escape, valid JSON) becomes U+FFFD as the bot's own intake makes it;
what no platform client would send (a postback past LINE's 300 characters, inf minutes, JSON nested
past Python's stack) is refused with a 400 the page shows, never a 500.
"""

from __future__ import annotations

import json

from aiohttp import ClientSession

from bot.demo.server import DemoServer
from bot.demo.world import DemoWorld
from tests.demo.conftest import DemoProcess, start_demo
from tests.demo.test_demo_server import request, state_of


def post_raw(demo: DemoProcess, path: str, body: bytes) -> tuple[int, bytes]:
    status, _, answer = request(
        demo.url, path, method="POST", body=body, headers={"Content-Type": "application/json"}
    )
    return status, answer


def chat_texts(demo: DemoProcess, citizen: str) -> list[str]:
    state = state_of(demo.url)
    chat = next(c["chat"] for c in state["line"]["citizens"] if c["id"] == citizen)
    return [m["text"] for m in chat if m["from"] == "user"]


def assert_page_works(demo: DemoProcess) -> None:
    status, _, body = request(demo.url, "/api/state")
    assert status == 200, body[:300]
    json.loads(body)


def test_half_an_emoji_typed_by_a_citizen_or_staff_is_kept_as_the_bot_keeps_it() -> None:
    demo = start_demo()
    try:
        state = state_of(demo.url)
        citizen = state["line"]["citizens"][0]["id"]
        staff = state["slack"]["staff"][0]["id"]
        channel = state["slack"]["channels"][0]["id"]
        body = b'{"user": "%s", "text": "\\ud800 lone"}' % citizen.encode()
        assert post_raw(demo, "/api/line/text", body)[0] == 200
        assert_page_works(demo)
        assert chat_texts(demo, citizen)[-1] == "\ufffd lone"

        tapped = b'{"user": "%s", "data": "action=menu", "display": "\\udc00tap"}' % citizen.encode()
        assert post_raw(demo, "/api/line/postback", tapped)[0] == 200
        assert chat_texts(demo, citizen)[-1] == "\ufffdtap"

        memo = b'{"user": "%s", "channel": "%s", "text": "\\udc00 memo"}' % (staff.encode(), channel.encode())
        assert post_raw(demo, "/api/slack/message", memo)[0] == 200
        command = b'{"user": "%s", "channel": "%s", "text": "stats\\ud83d"}' % (
            staff.encode(),
            channel.encode(),
        )
        assert post_raw(demo, "/api/slack/command", command)[0] == 200
        assert_page_works(demo)
        messages = state_of(demo.url)["slack"]["messages"]
        assert any(m["text"] == "\ufffd memo" for m in messages)

        assert (
            post_raw(demo, "/api/line/text", b'{"user": "%s", "text": "hello"}' % citizen.encode())[0] == 200
        )
    finally:
        returncode, err = demo.stop()
    assert returncode == 0, err
    assert "Traceback" not in err and "level=error" not in err, err


def test_what_no_client_would_send_is_refused_with_a_400_the_page_shows() -> None:
    demo = start_demo()
    try:
        state = state_of(demo.url)
        citizen = state["line"]["citizens"][0]["id"]
        staff = state["slack"]["staff"][0]["id"]
        refused = {
            "/api/clock": [b'{"minutes": 1e999}', b'{"minutes": 1.5}', b'{"minutes": true}'],
            "/api/line/text": [b"[" * 60_000],
            "/api/line/postback": [
                json.dumps({"user": citizen, "data": "x" * 301}).encode(),
                json.dumps({"user": citizen, "data": "action=menu", "display": "あ" * 301}).encode(),
            ],
            "/api/slack/command": [
                json.dumps({"user": staff, "channel": "C_MADOGUCHI", "text": "a" * 2001}).encode()
            ],
            "/api/slack/action": [
                json.dumps(
                    {"user": staff, "action_id": "a", "value": "v" * 2001, "channel": "C", "ts": "1"}
                ).encode()
            ],
        }
        for path, bodies in refused.items():
            for body in bodies:
                status, answer = post_raw(demo, path, body)
                assert status == 400, (path, body[:80], status, answer[:200])
                assert json.loads(answer)["error"]  # what the page's toast shows
        assert state_of(demo.url)["offset_minutes"] == 0
        assert all(len(text) <= 300 for text in chat_texts(demo, citizen))
        assert_page_works(demo)
    finally:
        returncode, err = demo.stop()
    assert returncode == 0, err
    assert "Traceback" not in err and "level=error" not in err, err


async def test_a_name_with_half_an_emoji_on_a_fake_platform_leaves_the_page_readable() -> None:
    """The fakes carry such text as the platforms send it (Slack may name someone 太郎\\ud83d)."""
    world = DemoWorld()
    await world.start()
    server = DemoServer(world, port=0)
    try:
        await server.start()
        world.slack.set_user("U_DEMO_TARO", "太郎\ud83d")
        async with ClientSession() as session, session.get(f"{server.url}api/state") as answer:
            assert answer.status == 200
            state = json.loads(await answer.read())  # UTF-8, the half emoji as an escape
        assert state["slack"]["users"]["U_DEMO_TARO"] == "太郎\ud83d"
    finally:
        await server.stop()
        await world.stop()
