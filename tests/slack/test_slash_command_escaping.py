"""`/madoguchi` with `&`, `<` and `>` typed. Slack sends a command's text with those three as entities
(our command's "escape channels, users, and links" is off: no mention or link markup), and the fake
now does so too. Our parsing already took the escaped form: the only subcommand that takes text is
`case NUMBER` (notice and event titles are typed into modals, whose values Slack sends unescaped),
and it unescapes the number once, to echo it back as typed."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl

from bot.sandbox.slack_signing import slash_command
from tests.slack.test_desk_e2e import STAFF, Desk, desk

__all__ = ["desk"]  # the fixture

MANIFEST = Path(__file__).parents[2] / "deploy" / "slack-manifest.json"


def test_the_fake_sends_a_commands_text_as_slack_does_for_the_manifests_setting() -> None:
    [command] = json.loads(MANIFEST.read_text(encoding="utf-8"))["features"]["slash_commands"]
    # The fake models this setting: turning it on needs the fake's mention and link markup too.
    assert command["command"] == "/madoguchi" and command["should_escape"] is False
    body, _ = slash_command("/madoguchi", "case a&b <@花子> https://example.org/?a=1&b=2", "U7", "C1")
    assert dict(parse_qsl(body.decode()))["text"] == (
        "case a&amp;b &lt;@花子&gt; https://example.org/?a=1&amp;b=2"
    )
    body, _ = slash_command("/madoguchi", "case <@U1>", "U7", "C1", as_typed=False)
    assert dict(parse_qsl(body.decode()))["text"] == "case <@U1>"


async def answer(desk: Desk, text: str) -> str:
    status, body = await desk.post(slash_command("/madoguchi", text, STAFF, "C_NPO"))
    assert status == 200
    return str(json.loads(body)["text"]) if body.startswith("{") else body


async def test_every_subcommand_works_with_the_characters_slack_escapes(desk: Desk) -> None:
    # A number typed with them is echoed so that Slack shows it as typed (its mrkdwn escaped once).
    for typed, echoed in (
        ("2026-0001&", "2026-0001&amp;"),
        ("<2026-0001>", "&lt;2026-0001&gt;"),
        ("&lt;2026&gt;", "&amp;lt;2026&amp;gt;"),  # the entity itself typed: shown as typed
    ):
        said = await answer(desk, f"case {typed}")
        assert said == f"相談 {echoed} は見つかりません。", said
    # Anything after the subcommands that take no text is ignored, escaped or not.
    assert "未完了の相談はありません" in await answer(desk, "cases <&>")
    assert "未完了：" in await answer(desk, "stats &")
    assert await answer(desk, "events <&>") == await answer(desk, "events")
    # A subcommand word typed with them is no subcommand: the usage.
    assert (await answer(desk, "<cases>")).startswith("使い方：")
    assert (await answer(desk, "stats&")).startswith("使い方：")
