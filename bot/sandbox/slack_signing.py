"""Build and sign Slack HTTP-mode requests exactly as Slack sends them.

Events API deliveries are JSON (``application/json``); interactive payloads
(``block_actions``, ``view_submission``) are a form with one ``payload`` field holding
JSON; slash commands are a flat form. Every builder returns ``(body, content_type)``;
``signed_headers`` adds ``X-Slack-Request-Timestamp`` and ``X-Slack-Signature``
(``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{body}`` keyed by the signing secret).

Inner events and payload parts are plain dicts in Slack's shape, so tests can tweak
any field before building.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import aiohttp

from bot.sandbox.loopback import post, wire_json

__all__ = [
    "FORM",
    "JSON",
    "VERIFICATION_TOKEN",
    "app_mention_event",
    "block_action",
    "event_callback",
    "message_event",
    "new_event_id",
    "new_trigger_id",
    "new_ts",
    "post_signed",
    "sign",
    "signed_headers",
    "slash_command",
    "typed",
    "url_verification",
    "view_submission",
]

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
# The deprecated verification token Slack still puts in every payload; Bolt ignores it.
VERIFICATION_TOKEN = "legacy-verification-token"
DEFAULT_RESPONSE_URL = "https://hooks.slack.com/actions/T1/1/fake"
_ID_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

Body = tuple[bytes, str]


def sign(signing_secret: str, timestamp: int | str, body: bytes | str) -> str:
    """``X-Slack-Signature``: ``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{body}``."""
    raw = body if isinstance(body, bytes) else body.encode("utf-8")
    base = f"v0:{timestamp}:".encode() + raw
    return "v0=" + hmac.new(signing_secret.encode("utf-8"), base, hashlib.sha256).hexdigest()


def signed_headers(
    signing_secret: str,
    body: bytes | str,
    timestamp: int | None = None,
    *,
    content_type: str | None = None,
    retry_num: int | None = None,
    retry_reason: str = "http_timeout",
) -> dict[str, str]:
    """The headers Slack sends with ``body``. ``timestamp`` defaults to now (Unix seconds);
    the content type is guessed from the body (JSON object or form) unless given.
    ``retry_num`` adds Slack's redelivery headers (``X-Slack-Retry-Num``/``-Reason``)."""
    ts = int(time.time()) if timestamp is None else timestamp
    raw = body if isinstance(body, bytes) else body.encode("utf-8")
    if content_type is None:
        content_type = JSON if raw.lstrip().startswith(b"{") else FORM
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": sign(signing_secret, ts, raw),
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    }
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = retry_reason
    return headers


# -- ids -------------------------------------------------------------------------------


def _random_id(length: int) -> str:
    return "".join(secrets.choice(_ID_CHARS) for _ in range(length))


def new_event_id() -> str:
    """An Events API ``event_id`` such as ``Ev08K1Q2R3S4T5``; unique per delivery (not per retry)."""
    return "Ev" + _random_id(12)


def new_trigger_id() -> str:
    return f"{secrets.randbelow(10**13)}.{secrets.randbelow(10**10)}.{secrets.token_hex(16)}"


_last_ts = 0


def new_ts() -> str:
    """A message ts ("1700000000.000100" style) from the wall clock, strictly increasing."""
    global _last_ts
    micros = max(int(time.time() * 1_000_000), _last_ts + 1)
    _last_ts = micros
    return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


def _user(user: str, team_id: str, username: str | None = None) -> dict[str, str]:
    name = username or user.lower()
    return {"id": user, "username": name, "name": name, "team_id": team_id}


def _team(team_id: str) -> dict[str, str]:
    return {"id": team_id, "domain": "madoguchi"}


# -- Events API ------------------------------------------------------------------------


def event_callback(
    event: dict[str, Any],
    event_id: str | None = None,
    team_id: str = "T1",
    *,
    api_app_id: str = "A1",
    bot_user_id: str = "U_BOT",
    event_time: int | None = None,
) -> Body:
    """The JSON envelope of one Events API delivery. Keep ``event_id`` to build a retry."""
    envelope = {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "context_team_id": team_id,
        "context_enterprise_id": None,
        "api_app_id": api_app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or new_event_id(),
        "event_time": int(time.time()) if event_time is None else event_time,
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": "4-" + secrets.token_urlsafe(32),
    }
    return wire_json(envelope).encode("utf-8"), JSON


def url_verification(challenge: str = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P") -> Body:
    """The handshake Slack sends when the Request URL is saved; the answer echoes ``challenge``."""
    payload = {"token": VERIFICATION_TOKEN, "challenge": challenge, "type": "url_verification"}
    return wire_json(payload).encode("utf-8"), JSON


def _rich_text(text: str) -> list[dict[str, Any]]:
    return [
        {
            "type": "rich_text",
            "block_id": _random_id(5),
            "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}],
        }
    ]


def typed(text: str) -> str:
    """What Slack sends for text a person typed: ``&``, ``<`` and ``>`` escaped as entities, and
    bare web addresses turned into links (``https://x`` → ``<https://x>``). Mentions and labelled
    links are markup the client makes (``<@U1>``, ``<https://x|label>``): append them as they are."""
    return _BARE_URL.sub(lambda m: f"<{m.group(0)}>", _entities(text))


def _entities(text: str) -> str:
    """``&``, ``<`` and ``>`` as the entities Slack sends for them in text a person typed."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_BARE_URL = re.compile(r"\bhttps?://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")


def message_event(
    channel: str,
    user: str,
    text: str,
    thread_ts: str | None = None,
    ts: str | None = None,
    *,
    team_id: str = "T1",
    channel_type: str = "channel",
    parent_user_id: str | None = None,
    as_typed: bool = True,
) -> dict[str, Any]:
    """A person's ``message`` event (no subtype), in a thread when ``thread_ts`` is given.

    ``text`` is what the person typed, and is sent as Slack sends it (see ``typed``); with
    ``as_typed=False`` it is the wire text already (markup and entities), sent unchanged."""
    ts = ts or new_ts()
    wire = typed(text) if as_typed else text
    event: dict[str, Any] = {
        "type": "message",
        "user": user,
        "text": wire,
        "ts": ts,
        "client_msg_id": str(uuid.uuid4()),
        "team": team_id,
        "blocks": _rich_text(text),
        "channel": channel,
        "event_ts": ts,
        "channel_type": channel_type,
    }
    if thread_ts is not None:
        event["thread_ts"] = thread_ts
        if parent_user_id is not None:
            event["parent_user_id"] = parent_user_id
    return event


def app_mention_event(
    channel: str,
    user: str,
    text: str,
    thread_ts: str | None = None,
    ts: str | None = None,
    *,
    team_id: str = "T1",
    as_typed: bool = True,
) -> dict[str, Any]:
    """The ``app_mention`` Slack sends besides the ``message`` event for the same ts (``text`` as in
    ``message_event``; the mention itself is markup, ``<@U_BOT>``, so build it with ``typed``)."""
    event = message_event(channel, user, text, thread_ts, ts, team_id=team_id, as_typed=as_typed)
    event["type"] = "app_mention"
    del event["channel_type"]
    return event


# -- interactivity ---------------------------------------------------------------------


def _form(fields: dict[str, str]) -> Body:
    return urlencode(fields).encode("ascii"), FORM


def _payload_form(payload: dict[str, Any]) -> Body:
    return _form({"payload": wire_json(payload)})


def block_action(
    user: str,
    action_id: str,
    value: str,
    channel: str | None = None,
    message_ts: str | None = None,
    trigger_id: str | None = None,
    view: dict[str, Any] | None = None,
    *,
    block_id: str | None = None,
    message: dict[str, Any] | None = None,
    response_url: str | None = None,
    team_id: str = "T1",
    api_app_id: str = "A1",
    username: str | None = None,
    action_type: str = "button",
    text: str = "button",
) -> Body:
    """A ``block_actions`` payload: a button pressed on a message (``channel`` +
    ``message_ts``, optionally the stored ``message`` dict) or in a ``view`` (a modal or
    App Home, as returned by views.open/publish)."""
    action: dict[str, Any] = {
        "action_id": action_id,
        "block_id": block_id or _random_id(5),
        "type": action_type,
        "action_ts": new_ts(),
    }
    if action_type == "button":
        action["text"] = {"type": "plain_text", "text": text, "emoji": True}
        action["value"] = value
    elif action_type == "static_select":
        action["selected_option"] = {"text": {"type": "plain_text", "text": text}, "value": value}
    else:
        action["value"] = value
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": _user(user, team_id, username),
        "api_app_id": api_app_id,
        "token": VERIFICATION_TOKEN,
        "container": {},
        "trigger_id": trigger_id or new_trigger_id(),
        "team": _team(team_id),
        "enterprise": None,
        "is_enterprise_install": False,
    }
    if view is not None:
        payload["container"] = {"type": "view", "view_id": view.get("id", "V1")}
        payload["view"] = view
        payload["state"] = view.get("state", {"values": {}})
    else:
        ts = message_ts or (str(message["ts"]) if message and "ts" in message else new_ts())
        channel_id = channel or (str(message["channel"]) if message and "channel" in message else "C1")
        payload["container"] = {
            "type": "message",
            "message_ts": ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        }
        payload["channel"] = {"id": channel_id, "name": channel_id.lower()}
        shown = {k: v for k, v in (message or {}).items() if k != "channel" and v is not None}
        payload["message"] = {"type": "message", "ts": ts, "text": "", **shown}
        payload["state"] = {"values": {}}
        payload["response_url"] = response_url or DEFAULT_RESPONSE_URL
    payload["actions"] = [action]
    return _payload_form(payload)


def _state_values(values: dict[str, Any]) -> dict[str, Any]:
    """``{block_id: {action_id: "text"}}`` → Slack's state; a dict leaf is kept as given."""
    state: dict[str, Any] = {}
    for block_id, actions in values.items():
        state[block_id] = {
            action_id: (leaf if isinstance(leaf, dict) else {"type": "plain_text_input", "value": leaf})
            for action_id, leaf in actions.items()
        }
    return state


def view_submission(
    user: str,
    callback_id: str,
    values: dict[str, Any],
    private_metadata: str = "",
    view_id: str = "V1",
    *,
    trigger_id: str | None = None,
    team_id: str = "T1",
    api_app_id: str = "A1",
    bot_id: str = "B_BOT",
    blocks: list[dict[str, Any]] | None = None,
    title: str = "madoguchi",
    username: str | None = None,
) -> Body:
    """A ``view_submission`` payload. ``values`` is Slack's ``state.values`` shape,
    ``{block_id: {action_id: value}}``; a plain string value stands for a
    ``plain_text_input`` with that text."""
    view = {
        "id": view_id,
        "team_id": team_id,
        "type": "modal",
        "blocks": blocks or [],
        "private_metadata": private_metadata,
        "callback_id": callback_id,
        "state": {"values": _state_values(values)},
        "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
        "title": {"type": "plain_text", "text": title, "emoji": True},
        "clear_on_close": False,
        "notify_on_close": False,
        "close": {"type": "plain_text", "text": "Cancel", "emoji": True},
        "submit": {"type": "plain_text", "text": "Submit", "emoji": True},
        "previous_view_id": None,
        "root_view_id": view_id,
        "app_id": api_app_id,
        "external_id": "",
        "app_installed_team_id": team_id,
        "bot_id": bot_id,
    }
    payload = {
        "type": "view_submission",
        "team": _team(team_id),
        "user": _user(user, team_id, username),
        "api_app_id": api_app_id,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id or new_trigger_id(),
        "view": view,
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }
    return _payload_form(payload)


def slash_command(
    command: str,
    text: str,
    user: str,
    channel: str,
    trigger_id: str | None = None,
    *,
    response_url: str | None = None,
    team_id: str = "T1",
    api_app_id: str = "A1",
    channel_name: str | None = None,
    user_name: str | None = None,
    as_typed: bool = True,
) -> Body:
    """A slash command invocation: a flat form, fields in the order Slack sends them.

    ``text`` is what the person typed after the command, sent as Slack sends it for a command whose
    "escape channels, users, and links" setting is off (deploy/slack-manifest.json should_escape
    false): ``&``, ``<`` and ``>`` as entities, mentions, channels and links as typed, no markup.
    With ``as_typed=False`` it is the wire text already, sent unchanged."""
    fields = {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "team_domain": "madoguchi",
        "channel_id": channel,
        "channel_name": channel_name or channel.lower(),
        "user_id": user,
        "user_name": user_name or user.lower(),
        "command": command,
        "text": _entities(text) if as_typed else text,
        "api_app_id": api_app_id,
        "is_enterprise_install": "false",
        "response_url": response_url or DEFAULT_RESPONSE_URL.replace("/actions/", "/commands/"),
        "trigger_id": trigger_id or new_trigger_id(),
    }
    return _form(fields)


async def post_signed(
    url: str,
    signing_secret: str,
    body: Body,
    *,
    timestamp: int | None = None,
    retry_num: int | None = None,
    session: aiohttp.ClientSession | None = None,
) -> tuple[int, str]:
    """POST a built ``(body, content_type)`` to ``url``, signed; returns (status, response text)."""
    raw, content_type = body
    headers = signed_headers(signing_secret, raw, timestamp, content_type=content_type, retry_num=retry_num)
    return await post(url, raw, headers, session)
