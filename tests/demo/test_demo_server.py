"""`madoguchi demo` serves its page on loopback only and stops cleanly on Ctrl-C."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot.demo.sample import programme
from bot.demo.world import demo_settings
from tests.conftest import ROOT
from tests.demo.conftest import DemoProcess, free_port


def request(
    url: str,
    path: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, str, bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read()
    finally:
        connection.close()


def test_the_page_is_served_on_loopback_and_ctrl_c_stops_it_cleanly(demo: DemoProcess) -> None:
    assert urlsplit(demo.url).hostname == "127.0.0.1"
    status, content_type, page = request(demo.url, "/")
    assert status == 200 and content_type.startswith("text/html")
    assert "madoguchi デモ" in page.decode("utf-8") and "/app.js" in page.decode("utf-8")
    for asset in ("/app.js", "/style.css"):
        assert request(demo.url, asset)[0] == 200

    status, _, body = request(demo.url, "/api/state")
    state = json.loads(body)
    assert status == 200
    assert len(state["line"]["citizens"]) >= 3
    # Every sample citizen was greeted through the real path (webhook -> bot -> SDK -> fake LINE).
    assert all(c["chat"] and c["chat"][0]["from"] == "bot" for c in state["line"]["citizens"])
    assert state["line"]["rich_menu"]["areas"]
    assert request(demo.url, "/api/richmenu.png")[2].startswith(b"\x89PNG")
    labels = [c["label"] for c in state["slack"]["channels"]]
    assert sum("区民活動支援センター" in label for label in labels) == 18

    # Another name for this machine's address (a DNS-rebinding page) is refused; so is a form post.
    assert request(demo.url, "/", headers={"Host": "attacker.example"})[0] == 403
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert request(demo.url, "/api/clock", method="POST", body=b"minutes=60", headers=form)[0] == 415

    returncode, err = demo.stop()
    assert returncode == 0, err
    assert "Traceback" not in err and "level=error" not in err, err


def post_json(url: str, path: str, payload: dict[str, object]) -> tuple[int, dict[str, object]]:
    body = json.dumps(payload).encode("utf-8")
    status, _, answer = request(
        url, path, method="POST", body=body, headers={"Content-Type": "application/json"}
    )
    return status, json.loads(answer)


def state_of(url: str) -> dict[str, Any]:
    state: dict[str, Any] = json.loads(request(url, "/api/state")[2])
    return state


def test_the_clock_app_home_and_the_slash_command(demo: DemoProcess) -> None:
    status, answer = post_json(demo.url, "/api/clock", {"minutes": 90})
    assert status == 200 and answer["ok"] is True
    assert state_of(demo.url)["offset_minutes"] == 90
    assert post_json(demo.url, "/api/clock", {"minutes": -5})[0] == 400  # time only moves forward

    staff = state_of(demo.url)["slack"]["staff"][0]["id"]
    assert post_json(demo.url, "/api/slack/home", {"user": staff})[0] == 200
    home = state_of(demo.url)["slack"]["home"][staff]
    assert "ミズベサロン" in json.dumps(
        home, ensure_ascii=False
    )  # the sample programme, through views.publish

    command = {"user": staff, "channel": "C_MADOGUCHI", "text": "stats"}
    assert post_json(demo.url, "/api/slack/command", command)[0] == 200
    notices = state_of(demo.url)["slack"]["notices"]
    echo, answer_text = (n["text"] for n in notices)  # the command as typed, then the bot's answer
    assert echo == "`/madoguchi stats`" and answer_text
    assert post_json(demo.url, "/api/slack/command", {**command, "user": "U_NOBODY"})[0] == 400

    returncode, err = demo.stop()
    assert returncode == 0, err


def test_a_host_other_than_loopback_is_refused() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--host", "0.0.0.0", "--port", str(free_port())],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "loopback only" in result.stderr and "Traceback" not in result.stderr


def test_the_sample_programme_uses_the_configured_kinds_and_keeps_the_network_meeting_internal(
    tmp_path: Path,
) -> None:
    settings = demo_settings(tmp_path, "http://127.0.0.1:9", "http://127.0.0.1:9/")
    kinds = {kind.id for kind in settings.events.kinds}
    drafts = programme(datetime.now(UTC), settings.center.tz)
    assert {draft.kind for draft in drafts} <= kinds
    assert [d.public for d in drafts if d.kind == "network-meeting"] == [False]
