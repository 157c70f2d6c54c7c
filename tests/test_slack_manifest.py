"""deploy/slack-manifest.json names every scope, event and command the code uses, and no more; the
declaration in bot/slack/scopes.py is checked against the code itself (an AST scan of bot/)."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import scopes
from tests.conftest import ROOT

MANIFEST = ROOT / "deploy" / "slack-manifest.json"
# Client methods that are not Web API methods (or are the generic ones), and the Socket Mode client's.
NOT_WEB_API = {"api_call", "close", "post", "is_connected", "issue_new_wss_url", "connect", "disconnect"}
# Called with the app-level token, not the bot token: needs connections:write on that token.
APP_TOKEN_METHODS = {"apps.connections.open"}


def manifest() -> dict[str, Any]:
    data = json.loads(MANIFEST.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def code_files() -> list[Path]:
    return [p for p in (ROOT / "bot").rglob("*.py") if "sandbox" not in p.parts and "demo" not in p.parts]


def calls() -> list[tuple[str, list[ast.expr], Path]]:
    """Every call `<x>.<name>(args…)` in bot/ (outside the sandbox and demo)."""
    found = []
    for path in code_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                found.append((node.func.attr, node.args, path))
    return found


def slack_methods_called() -> set[str]:
    """Web API methods called through slack_sdk's client, as Slack names them (chat.postMessage)."""
    methods = set()
    for name, _, _ in calls():
        if name in NOT_WEB_API or not hasattr(AsyncWebClient, name) or name.startswith("_"):
            continue
        if name == "files_upload_v2":  # the v2 upload flow: two Web API methods
            methods |= {"files.getUploadURLExternal", "files.completeUploadExternal"}
            continue
        methods.add(name.replace("_", "."))  # apps_connections_open -> apps.connections.open
    return methods


def registered(kind: str) -> set[str]:
    """What `app.<kind>("…")` registers in the Bolt app (events, commands)."""
    return {
        args[0].value
        for name, args, _ in calls()
        if name == kind and args and isinstance(args[0], ast.Constant) and isinstance(args[0].value, str)
    }


def test_the_manifest_parses_and_runs_in_socket_mode_with_home_and_interactivity() -> None:
    data = manifest()
    assert data["settings"]["socket_mode_enabled"] is True
    assert data["settings"]["interactivity"]["is_enabled"] is True
    assert data["features"]["app_home"]["home_tab_enabled"] is True
    assert [c["command"] for c in data["features"]["slash_commands"]] == ["/madoguchi"]


def test_every_slack_method_the_code_calls_is_declared() -> None:
    called = slack_methods_called() - APP_TOKEN_METHODS
    assert called, "the scan found no Slack calls: it is broken"
    assert {"chat.postMessage", "reactions.add", "conversations.members", "users.info"} <= called
    undeclared = called - set(scopes.METHOD_SCOPES)
    assert not undeclared, f"add these to bot/slack/scopes.py METHOD_SCOPES: {sorted(undeclared)}"


def test_every_event_and_command_the_code_listens_to_is_declared() -> None:
    events = registered("event")
    assert {"message", "app_home_opened"} <= events
    assert events == set(scopes.EVENT_SUBSCRIPTIONS), "bot/slack/scopes.py EVENT_SUBSCRIPTIONS"
    assert registered("command") == set(scopes.SLASH_COMMANDS)


def test_the_manifest_grants_exactly_the_scopes_and_events_the_code_needs() -> None:
    data = manifest()
    granted = set(data["oauth_config"]["scopes"]["bot"])
    needed = scopes.bot_scopes()
    assert needed - granted == set(), f"missing in the manifest: {sorted(needed - granted)}"
    assert granted - needed == set(), f"granted but unused (least privilege): {sorted(granted - needed)}"
    subscribed = set(data["settings"]["event_subscriptions"]["bot_events"])
    assert subscribed == scopes.bot_events()
    assert "chat:write.public" not in granted and "im:write" not in granted
    assert {c["command"] for c in data["features"]["slash_commands"]} == set(scopes.SLASH_COMMANDS)
