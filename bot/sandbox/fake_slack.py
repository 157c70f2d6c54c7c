"""A fake Slack Web API served over real HTTP on 127.0.0.1.

The real ``AsyncWebClient(token=..., base_url=slack.api_url)`` talks to it, so tests
exercise the same wire format as production: JSON bodies for the methods the SDK sends
as JSON (chat.*, views.*), form or query parameters for the others, Slack's
``{"ok": false, "error": ...}`` answers with HTTP 200, 429 with ``Retry-After``.
The same server answers the upload URLs of the v2 file upload flow and the
``response_url`` webhooks that Bolt's ``respond()`` posts to.

It also plays Slack's side of Socket Mode: ``apps.connections.open`` (called with the
app-level ``xapp-`` token) hands out a ``ws://`` URL on this server; a client that connects
gets Slack's ``hello``, and ``socket_send`` delivers envelopes (``events_api``,
``interactive``, ``slash_commands``) whose acks land in ``socket_acks``.

Only what madoguchi uses is implemented; the checks are the ones Slack makes server
side and the SDK does not (Block Kit limits, view limits, single-use trigger ids,
message and thread existence, the per-channel posting rate when enabled).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import math
import re
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

from aiohttp import WSCloseCode, WSMsgType, web

from bot.sandbox.loopback import LoopbackServer, wire_json
from bot.sandbox.slack_signing import message_event, typed

__all__ = ["FakeSlack", "RecordedRequest", "Upload", "ViewEvent", "alarms", "control_sequences"]

FailMode = int | str
FAIL_MODES: frozenset[FailMode] = frozenset({500, 429, "timeout", "drop", "lost_response", "held"})
ERROR_PREFIX = "error:"

MAX_TEXT = 40_000
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_ACTIONS_ELEMENTS = 25
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_ID = 255
MAX_VIEW_TITLE = 24
MAX_PRIVATE_METADATA = 3000
MAX_MEMBERS_PAGE = 1000
MAX_HISTORY_PAGE = 999  # conversations.history (default 100)
MAX_REPLIES_PAGE = 1000  # conversations.replies (default 1000)
MAX_REACTIONS = 23  # distinct reactions on one message
BLOCK_TYPES = frozenset(
    {
        "actions",
        "context",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "video",
    }
)
SOCKET_PATH = "/socket-mode/"
SOCKET_TYPES = frozenset({"events_api", "interactive", "slash_commands"})
# Interactive payloads whose ack may carry a response (response_action, options).
RESPONDING_INTERACTIONS = frozenset({"view_submission", "block_suggestion"})
# Fields Slack accepts as JSON text inside form bodies (and the SDK sometimes leaves as text in JSON).
JSON_FIELDS = ("blocks", "attachments", "view", "files", "metadata", "user_auth_blocks")


@dataclass
class RecordedRequest:
    """One request as the fake received it.

    ``api_method`` is the Web API method ("chat.postMessage"), "upload" for a file upload
    URL and "response_url" for a response_url webhook. ``params`` merges the query string
    and the body (form or JSON) with JSON-text fields decoded. ``status`` is 0 while no
    answer was sent (a "timeout" still hanging, a "drop" or a "lost_response");
    ``response`` is the JSON the fake answered (or, for lost_response, would have).
    """

    api_method: str
    http_method: str
    path: str
    headers: dict[str, str]
    params: dict[str, Any]
    body: bytes
    status: int = 0
    response: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200 and bool(self.response and self.response.get("ok"))

    @property
    def error(self) -> str | None:
        if self.response is None:
            return None
        error = self.response.get("error")
        return error if isinstance(error, str) else None


class ViewEvent(NamedTuple):
    """A views.* call that took effect: ``action`` is "open", "update" or "publish"."""

    action: str
    view_id: str
    user_id: str | None
    view: dict[str, Any]


@dataclass
class Upload:
    """A file going through the v2 upload flow (getUploadURLExternal → POST → complete)."""

    file_id: str
    filename: str
    length: int
    alt_txt: str | None = None
    snippet_type: str | None = None
    data: bytes | None = None
    title: str | None = None
    completed: bool = False
    channel: str | None = None
    thread_ts: str | None = None
    initial_comment: str | None = None
    message_ts: str | None = None


@dataclass
class _Channel:
    id: str
    name: str
    is_private: bool = False


class _Reject(Exception):
    """Raised by a method to answer ``{"ok": false, "error": ...}`` as Slack does."""

    def __init__(
        self,
        error: str,
        messages: list[str] | None = None,
        *,
        status: int = 200,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(error)
        self.error = error
        self.messages = messages or []
        self.status = status
        self.extra = extra or {}
        self.headers = headers or {}

    def payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"ok": False, "error": self.error, **self.extra}
        if self.messages:
            payload["response_metadata"] = {"messages": [f"[ERROR] {m}" for m in self.messages]}
        return payload


Method = Callable[[RecordedRequest], dict[str, Any]]


class FakeSlack(LoopbackServer):
    """In-process Slack platform. Use ``async with FakeSlack() as slack:``.

    Point the real client at it with
    ``AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)``.
    """

    def __init__(
        self,
        bot_token: str = "xoxb-test",
        *,
        team_id: str = "T1",
        team_domain: str = "madoguchi",
        bot_user_id: str = "U_BOT",
        bot_id: str = "B_BOT",
        app_id: str = "A1",
        rate_limit_per_channel: float | None = None,
        app_token: str = "xapp-test",
    ) -> None:
        super().__init__()
        self.bot_token = bot_token
        # The app-level token apps.connections.open wants (Socket Mode).
        self.app_token = app_token
        self.team_id = team_id
        self.team_domain = team_domain
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        # chat.postMessage calls per second per channel; None = no limit (the default).
        self.rate_limit_per_channel = rate_limit_per_channel
        self.retry_after = 1  # seconds, in the Retry-After of an injected 429 (Slack sends integers)
        # A thread reply to a ts the fake never saw is refused with thread_not_found.
        self.strict_threads = True
        self.now: Callable[[], float] = time.monotonic  # for the rate limit
        self.wall: Callable[[], float] = time.time  # for message ts
        self.requests: list[RecordedRequest] = []
        self.messages: list[dict[str, Any]] = []
        self.ephemerals: list[dict[str, Any]] = []
        self.views: list[ViewEvent] = []
        self.open_views: dict[str, dict[str, Any]] = {}
        self.home_views: dict[str, dict[str, Any]] = {}
        self.uploads: list[Upload] = []
        self.webhook_posts: list[tuple[str, dict[str, Any]]] = []
        self.users: dict[str, dict[str, Any]] = {}
        self.members: dict[str, list[str]] = {}
        # At most this many members per conversations.members page, whatever the limit asked (None: no cap
        # beyond Slack's 1,000).
        self.members_page_max: int | None = None
        # Socket Mode: every envelope sent (oldest first), the acks by envelope id, and the
        # other messages a client sent (anything without an envelope id).
        self.socket_envelopes: list[dict[str, Any]] = []
        self.socket_acks: dict[str, dict[str, Any]] = {}
        self.socket_received: list[Any] = []
        # Set while at least one client is connected (after its hello was sent).
        self.socket_connected = asyncio.Event()
        self.socket_connections = 0  # websockets accepted so far
        self._sockets: list[web.WebSocketResponse] = []
        self._socket_tickets: set[str] = set()
        self._ack_waiters: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._channels: dict[str, _Channel] | None = None
        self._failures: list[tuple[FailMode, str | None]] = []
        self._last_ts = 0
        self._ids = itertools.count(1)
        self._triggers: dict[str, str | None] = {}
        self._used_triggers: set[str] = set()
        self._upload_keys: dict[str, str] = {}
        self._last_post: dict[str, float] = {}
        self._release = asyncio.Event()
        self._methods: dict[str, Method] = {
            "auth.test": self._auth_test,
            "apps.connections.open": self._connections_open,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.delete": self._delete,
            "chat.postEphemeral": self._post_ephemeral,
            "reactions.add": self._reactions_add,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "users.info": self._users_info,
            "conversations.members": self._conversations_members,
            "conversations.info": self._conversations_info,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "files.getUploadURLExternal": self._get_upload_url,
            "files.completeUploadExternal": self._complete_upload,
        }
        self.set_user(bot_user_id, "madoguchi", name="madoguchi", is_bot=True)

    @property
    def api_url(self) -> str:
        """What ``AsyncWebClient(base_url=...)`` takes: ends with ``/api/``."""
        return f"{self.base_url}/api/"

    # -- test controls ---------------------------------------------------------------

    def set_channels(self, channels: Iterable[str] | Mapping[str, str], private: Iterable[str] = ()) -> None:
        """Only these channels exist from now on (ids, or a mapping id → name; those in `private` are
        private channels); others answer ``channel_not_found``. Without a call, every channel id is
        accepted."""
        names = channels if isinstance(channels, Mapping) else {cid: cid.lower() for cid in channels}
        hidden = set(private)
        self._channels = {cid: _Channel(cid, name, cid in hidden) for cid, name in names.items()}

    def set_members(self, channel: str, user_ids: Iterable[str]) -> None:
        self.members[channel] = list(user_ids)

    def set_user(
        self,
        user_id: str,
        real_name: str,
        *,
        name: str | None = None,
        display_name: str = "",
        email: str | None = None,
        is_bot: bool = False,
        deleted: bool = False,
        tz: str = "Asia/Tokyo",
    ) -> None:
        profile: dict[str, Any] = {
            "real_name": real_name,
            "real_name_normalized": real_name,
            "display_name": display_name,
            "display_name_normalized": display_name,
            "team": self.team_id,
        }
        if email is not None:
            profile["email"] = email
        self.users[user_id] = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name or user_id.lower(),
            "deleted": deleted,
            "real_name": real_name,
            "tz": tz,
            "tz_label": "Japan Standard Time" if tz == "Asia/Tokyo" else tz,
            "tz_offset": 32400 if tz == "Asia/Tokyo" else 0,
            "is_admin": False,
            "is_owner": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "updated": int(self.wall()),
            "profile": profile,
        }

    def issue_trigger_id(self, user_id: str | None = None) -> str:
        """A trigger id as Slack puts in an interaction; views.open then knows the user.
        (Any other non-empty trigger id is accepted too, once.)"""
        trigger_id = f"{next(self._ids)}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"
        self._triggers[trigger_id] = user_id
        return trigger_id

    def response_url(self, kind: str = "actions") -> str:
        """A response_url on this fake; what Bolt's ``respond()`` posts lands in ``webhook_posts``."""
        return f"{self.base_url}/hooks/{kind}/{self.team_id}/{next(self._ids)}/{secrets.token_hex(12)}"

    def add_user_message(
        self, channel: str, user: str, text: str, thread_ts: str | None = None, *, as_typed: bool = True
    ) -> dict[str, Any]:
        """Store a message a person wrote (so threads and ``message_event`` ts line up).

        ``text`` is what they typed: it is stored as Slack stores and sends it, ``&<>`` escaped and
        bare addresses as links (``slack_signing.typed``). ``as_typed=False`` takes wire text
        (mentions, labelled links) unchanged."""
        message: dict[str, Any] = {
            "type": "message",
            "channel": channel,
            "user": user,
            "text": typed(text) if as_typed else text,
            "ts": self._next_ts(),
            "thread_ts": None,
            "team": self.team_id,
        }
        if thread_ts is not None:
            self._attach_reply(channel, thread_ts, message)
        self.messages.append(message)
        return message

    def add_app_message(
        self,
        channel: str,
        text: str,
        thread_ts: str | None = None,
        *,
        user: str,
        bot_id: str,
        app_id: str,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Store a post another app made with its own bot token (``user`` its bot user), shaped as
        Slack lists it. Our bot may not change it (cant_update_message, cant_delete_message)."""
        message: dict[str, Any] = {
            "type": "message",
            "channel": channel,
            "user": user,
            "bot_id": bot_id,
            "app_id": app_id,
            "bot_profile": self._bot_profile(bot_id, app_id, "another app"),
            "team": self.team_id,
            "text": text,
            "ts": self._next_ts(),
            "thread_ts": None,
        }
        if metadata is not None:
            message["metadata"] = metadata
        if thread_ts is not None:
            self._attach_reply(channel, thread_ts, message)
        self.messages.append(message)
        return message

    def user_message_event(
        self, channel: str, user: str, text: str, thread_ts: str | None = None, *, as_typed: bool = True
    ) -> dict[str, Any]:
        """A person's message, stored (``add_user_message``) and returned as the Events API
        ``message`` event Slack would deliver for it (wrap it with ``event_callback``)."""
        message = self.add_user_message(channel, user, text, thread_ts, as_typed=as_typed)
        event = message_event(
            channel,
            user,
            str(message["text"]),
            message.get("thread_ts"),
            str(message["ts"]),
            team_id=self.team_id,
            as_typed=False,
        )
        if message.get("parent_user_id") is not None:
            event["parent_user_id"] = message["parent_user_id"]
        return event

    def alarms(self, surface: Any, allowed: Iterable[str] = ()) -> list[str]:
        """The markup in a posted message, a view or an ack payload that would ping people or show
        a disguised link, as Slack would render it (see ``alarms``); ``allowed`` lists sequences
        we post on purpose (``<@U_STAFF>``)."""
        return alarms(surface, allowed)

    def answer_view_submission(self, view_id: str, answer: str | dict[str, Any] | None) -> dict[str, Any]:
        """What Slack makes of the answer to a ``view_submission`` (the HTTP response body, or a
        Socket Mode ack's payload): no ``response_action`` (or ``clear``) closes the modal;
        ``errors`` keeps it open with the messages under their blocks; ``update`` and ``push``
        show the new view only if it passes the checks views.update makes (``private_metadata``
        at most 3,000 characters, title, blocks...), else Slack refuses it with
        ``invalid_arguments`` and the modal stays as it was. Returns ``{"ok": ...}`` like the API,
        with ``view`` (shown) or ``errors`` (kept open)."""
        if isinstance(answer, str):
            try:
                answer = json.loads(answer) if answer.strip() else None
            except ValueError:
                return {"ok": False, "error": "invalid_json"}
        action = answer.get("response_action") if isinstance(answer, dict) else None
        current = self.open_views.get(view_id)
        user = next((e.user_id for e in self.views if e.view_id == view_id), None)
        if action in (None, "clear"):
            self.open_views.pop(view_id, None)
            return {"ok": True}
        assert isinstance(answer, dict)
        if action == "errors":
            errors = answer.get("errors")
            if (
                not isinstance(errors, dict)
                or not errors
                or not all(isinstance(v, str) for v in errors.values())
            ):
                return {"ok": False, "error": "invalid_arguments"}
            return {"ok": True, "errors": errors}
        if action not in ("update", "push"):
            return {"ok": False, "error": "invalid_arguments", "response_metadata": {"messages": []}}
        try:
            spec = _view_spec({"view": answer.get("view")}, "modal")
        except _Reject as e:
            return e.payload()
        new_id = view_id if action == "update" else self._id("V")
        external_id = current["external_id"] if current is not None and action == "update" else ""
        view = self._make_view({"external_id": external_id, **spec}, new_id, "modal")
        self.open_views[new_id] = view
        self.views.append(ViewEvent(str(action), new_id, user, view))
        return {"ok": True, "view": view}

    def fail_next(self, *modes: FailMode, method: str | None = None) -> None:
        """Queue failures, consumed one per matching request in order.

        Modes: 500; 429 (``Retry-After: self.retry_after``, body ``ratelimited``);
        "timeout" (hold the request for ``hang_seconds``, then 500); "drop" (close the
        connection unanswered); "lost_response" (carry the call out, then close the
        connection unanswered: the client cannot know it took effect); "held" (carry the call
        out, then hold the answer until ``release_held()``: a call still in flight while the
        test acts); and ``"error:<code>"`` (HTTP 200 ``{"ok": false, "error": "<code>"}``).
        Only "lost_response" and "held" let the call take effect. ``method`` restricts a failure to
        one API method ("chat.postMessage"; "upload" for the upload URL).
        """
        for mode in modes:
            is_error = (
                isinstance(mode, str) and mode.startswith(ERROR_PREFIX) and len(mode) > len(ERROR_PREFIX)
            )
            if mode not in FAIL_MODES and not is_error:
                raise ValueError(f"unknown failure mode {mode!r}")
            self._failures.append((mode, method))

    def release_held(self) -> None:
        """Answer the calls held by the "held" failure mode (and any held later)."""
        self._release.set()

    # -- Socket Mode -----------------------------------------------------------------

    async def socket_send(
        self,
        payload_type: str,
        payload: dict[str, Any],
        *,
        retry_attempt: int = 0,
        retry_reason: str | None = None,
        accepts_response_payload: bool | None = None,
        envelope_id: str | None = None,
    ) -> str:
        """Deliver one envelope to the most recently connected client; returns its envelope id.

        ``payload_type`` is "events_api" (``payload`` is the ``event_callback`` body),
        "interactive" (the JSON of the ``payload=`` form field: block_actions,
        view_submission, ...) or "slash_commands" (the command's fields as a dict).
        Events API envelopes carry ``retry_attempt``/``retry_reason`` as Slack sends them
        (the reason defaults to "timeout" on a retry). ``accepts_response_payload`` defaults
        to Slack's: true for slash commands, view submissions and block suggestions.
        """
        if payload_type not in SOCKET_TYPES:
            raise ValueError(f"unknown envelope type {payload_type!r}")
        ws = self._live_socket()
        if accepts_response_payload is None:
            accepts_response_payload = payload_type == "slash_commands" or (
                payload_type == "interactive" and payload.get("type") in RESPONDING_INTERACTIONS
            )
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id or str(uuid.uuid4()),
            "payload": payload,
            "type": payload_type,
            "accepts_response_payload": accepts_response_payload,
        }
        if payload_type == "events_api":
            envelope["retry_attempt"] = retry_attempt
            envelope["retry_reason"] = (
                retry_reason if retry_reason is not None else ("timeout" if retry_attempt else "")
            )
        eid = str(envelope["envelope_id"])
        self._ack_future(eid)
        self.socket_envelopes.append(envelope)
        await ws.send_str(wire_json(envelope))
        return eid

    # A plain timeout argument (like asyncio.wait_for's) keeps test code short.
    async def wait_ack(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:  # noqa: ASYNC109
        """The ack the client sent for ``envelope_id`` (``{"envelope_id": ..., "payload": ...}``,
        ``payload`` only when the app answered with one); TimeoutError if none comes in time."""
        if envelope_id in self.socket_acks:
            return self.socket_acks[envelope_id]
        try:
            return await asyncio.wait_for(asyncio.shield(self._ack_future(envelope_id)), timeout)
        except TimeoutError:
            raise TimeoutError(f"no ack for envelope {envelope_id} within {timeout} s") from None

    async def socket_disconnect(self, reason: str = "refresh_requested") -> None:
        """Send Slack's ``disconnect`` message (as before a server refresh); the SDK then
        opens a new connection through apps.connections.open."""
        message = {
            "type": "disconnect",
            "reason": reason,
            "debug_info": {"host": "applink-fake"},
        }
        await self._live_socket().send_json(message)

    def _live_socket(self) -> web.WebSocketResponse:
        for ws in reversed(self._sockets):
            if not ws.closed:
                return ws
        raise RuntimeError("no Socket Mode client is connected")

    def _ack_future(self, envelope_id: str) -> asyncio.Future[dict[str, Any]]:
        future = self._ack_waiters.get(envelope_id)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._ack_waiters[envelope_id] = future
        return future

    def _record_socket_message(self, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            self.socket_received.append(text)
            return
        envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
        if not isinstance(envelope_id, str):
            self.socket_received.append(message)
            return
        if envelope_id in self.socket_acks:
            # A second ack for the same envelope: Slack ignores it; keep the first.
            self.socket_received.append(message)
            return
        self.socket_acks[envelope_id] = message
        future = self._ack_future(envelope_id)
        if not future.done():
            future.set_result(message)

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        """The websocket a ``apps.connections.open`` URL points at (each URL works once)."""
        ticket = request.path[len(SOCKET_PATH) :]
        if ticket not in self._socket_tickets:
            return web.Response(status=404, text="Not Found", content_type="text/plain")
        ws = web.WebSocketResponse(autoping=True, timeout=1.0)
        if not ws.can_prepare(request).ok:
            return web.Response(status=400, text="Expected a websocket", content_type="text/plain")
        self._socket_tickets.discard(ticket)
        await ws.prepare(request)
        self._sockets.append(ws)
        self.socket_connections += 1
        try:
            await ws.send_json(
                {
                    "type": "hello",
                    "num_connections": sum(1 for s in self._sockets if not s.closed),
                    "debug_info": {
                        "host": "applink-fake",
                        "build_number": 1,
                        "approximate_connection_time": 18060,
                    },
                    "connection_info": {"app_id": self.app_id},
                }
            )
            self.socket_connected.set()
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._record_socket_message(msg.data)
        finally:
            self._sockets.remove(ws)
            if not any(not s.closed for s in self._sockets):
                self.socket_connected.clear()
        return ws

    async def close(self) -> None:
        for ws in list(self._sockets):
            with contextlib.suppress(Exception):
                await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
        await super().close()
        for future in self._ack_waiters.values():
            future.cancel()

    # -- reading state ---------------------------------------------------------------
    # ``messages`` holds every message in the order posted, as dicts in Slack's shape plus
    # ``channel``; ``thread_ts`` is None for a message outside any thread (a thread's root
    # gets ``thread_ts == ts``, ``reply_count`` and ``latest_reply`` once it has replies).

    def find_calls(self, method: str | None = None) -> list[RecordedRequest]:
        """Recorded requests for one API method (all of them with None)."""
        return [r for r in self.requests if method is None or r.api_method == method]

    def messages_in(self, channel: str, thread_ts: str | None = None) -> list[dict[str, Any]]:
        """Without ``thread_ts``: the channel's top-level messages (thread roots and broadcast
        replies included). With it: the replies in that thread, oldest first (not the root)."""
        if thread_ts is None:
            return [
                m
                for m in self.messages
                if m["channel"] == channel
                and (m.get("thread_ts") in (None, m["ts"]) or m.get("subtype") == "thread_broadcast")
            ]
        return [
            m
            for m in self.messages
            if m["channel"] == channel and m.get("thread_ts") == thread_ts and m["ts"] != thread_ts
        ]

    def thread(self, channel: str, ts: str) -> list[dict[str, Any]]:
        """The root and its replies, oldest first (like conversations.replies)."""
        root = self.message(channel, ts)
        return ([root] if root is not None else []) + self.messages_in(channel, ts)

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        for m in self.messages:
            if m["channel"] == channel and m["ts"] == ts:
                return m
        return None

    def texts_in(self, channel: str, thread_ts: str | None = None) -> list[str]:
        return [str(m.get("text", "")) for m in self.messages_in(channel, thread_ts)]

    # -- dispatch --------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.path.startswith(SOCKET_PATH):
            return await self._socket(request)
        body = await request.read()
        path = request.path
        if path.startswith("/api/"):
            api_method = path[len("/api/") :]
        elif path.startswith("/upload/v1/"):
            api_method = "upload"
        elif path.startswith("/hooks/"):
            api_method = "response_url"
        else:
            api_method = ""
        content_type = request.headers.get("Content-Type", "")
        rec = RecordedRequest(
            api_method=api_method,
            http_method=request.method,
            path=path,
            headers={k.lower(): v for k, v in request.headers.items()},
            params={},
            body=body,
        )
        self.requests.append(rec)
        parse_error: _Reject | None = None
        if api_method != "upload":
            try:
                rec.params = _parse_params(dict(request.query), body, content_type)
            except _Reject as e:
                parse_error = e

        mode = self._take_failure(api_method)
        if mode == "drop":
            return self._drop(request)
        if mode == "timeout":
            await self._hang()
        if mode is not None and mode not in ("lost_response", "held"):
            status, payload, headers = self._fail_response(mode)
            response = _json(status, payload, headers)
        else:
            response, payload = self._dispatch(rec, parse_error)
        rec.response = payload
        if mode == "lost_response":
            return self._drop(request)
        if mode == "held":
            await self._release.wait()
        rec.status = response.status
        return response

    def _dispatch(
        self, rec: RecordedRequest, parse_error: _Reject | None
    ) -> tuple[web.Response, dict[str, Any]]:
        if rec.api_method == "upload":
            return self._upload(rec)
        if rec.api_method == "response_url":
            self.webhook_posts.append((rec.path, rec.params))
            return web.Response(status=200, text="ok", content_type="text/plain"), {"ok": True}
        try:
            method = self._methods.get(rec.api_method)
            if method is None:
                raise _Reject("unknown_method", status=404, extra={"req_method": rec.api_method})
            if parse_error is not None:
                raise parse_error
            self._check_auth(rec)
            self._rate_limit(rec)
            payload = {"ok": True, **method(rec)}
            return _json(200, payload), payload
        except _Reject as e:
            payload = e.payload()
            return _json(e.status, payload, e.headers), payload

    def _take_failure(self, api_method: str) -> FailMode | None:
        for i, (mode, method) in enumerate(self._failures):
            if method is None or method == api_method:
                del self._failures[i]
                return mode
        return None

    def _fail_response(self, mode: FailMode) -> tuple[int, dict[str, Any], dict[str, str]]:
        if mode == 429:
            return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(self.retry_after)}
        if isinstance(mode, str) and mode.startswith(ERROR_PREFIX):
            return 200, {"ok": False, "error": mode[len(ERROR_PREFIX) :]}, {}
        return 500, {"ok": False, "error": "fatal_error"}, {}

    def _check_auth(self, rec: RecordedRequest) -> None:
        header = rec.headers.get("authorization", "")
        token: Any = header[len("Bearer ") :] if header.startswith("Bearer ") else rec.params.get("token")
        if not token:
            raise _Reject("not_authed")
        if rec.api_method == "apps.connections.open":
            # Only an app-level token opens a connection; Slack tells a bot token apart.
            if token != self.app_token:
                is_app_token = isinstance(token, str) and token.startswith("xapp-")
                raise _Reject("invalid_auth" if is_app_token else "not_allowed_token_type")
            return
        if token != self.bot_token:
            raise _Reject("invalid_auth")

    def _rate_limit(self, rec: RecordedRequest) -> None:
        if self.rate_limit_per_channel is None or rec.api_method != "chat.postMessage":
            return
        channel = str(rec.params.get("channel", ""))
        interval = 1.0 / self.rate_limit_per_channel
        now = self.now()
        last = self._last_post.get(channel)
        if last is not None and now - last < interval:
            wait = max(1, math.ceil(interval - (now - last)))
            raise _Reject("ratelimited", status=429, headers={"Retry-After": str(wait)})
        self._last_post[channel] = now

    # -- ids -------------------------------------------------------------------------

    def _next_ts(self) -> str:
        micros = max(int(self.wall() * 1_000_000), self._last_ts + 1)
        self._last_ts = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08X}"

    # -- channels and messages -------------------------------------------------------

    def _channel(self, params: dict[str, Any], key: str = "channel") -> str:
        value = params.get(key)
        if not isinstance(value, str) or not value:
            raise _Reject("channel_not_found")
        if self._channels is None:
            return value
        if value in self._channels:
            return value
        name = value.removeprefix("#")
        for channel in self._channels.values():
            if channel.name == name:
                return channel.id
        raise _Reject("channel_not_found")

    def _attach_reply(self, channel: str, thread_ts: str, message: dict[str, Any]) -> None:
        parent = self.message(channel, thread_ts)
        if parent is not None and parent.get("thread_ts") not in (None, parent["ts"]):
            # A reply to a reply goes into the parent's thread.
            thread_ts = str(parent["thread_ts"])
            parent = self.message(channel, thread_ts)
        if parent is None and self.strict_threads:
            raise _Reject("thread_not_found")
        message["thread_ts"] = thread_ts
        if parent is not None:
            parent["thread_ts"] = parent["ts"]
            parent["reply_count"] = int(parent.get("reply_count", 0)) + 1
            parent["latest_reply"] = message["ts"]
            users = parent.setdefault("reply_users", [])
            who = message.get("user")
            if who is not None and who not in users:
                users.append(who)
            message["parent_user_id"] = parent.get("user")

    def _bot_message(self, channel: str, params: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message",
            "channel": channel,
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "bot_profile": self._bot_profile(self.bot_id, self.app_id, "madoguchi"),
            "team": self.team_id,
            "text": params.get("text", ""),
            "ts": "",
            "thread_ts": None,
        }
        for key in ("blocks", "attachments", "metadata", "username", "icon_emoji", "icon_url"):
            if params.get(key) is not None:
                message[key] = params[key]
        return message

    def _bot_profile(self, bot_id: str, app_id: str, name: str) -> dict[str, Any]:
        """The ``bot_profile`` Slack puts on every message an app posts with its bot token."""
        return {"id": bot_id, "app_id": app_id, "name": name, "deleted": False, "team_id": self.team_id}

    def _check_content(self, params: dict[str, Any]) -> None:
        text, blocks, attachments = params.get("text"), params.get("blocks"), params.get("attachments")
        if not text and not blocks and not attachments:
            raise _Reject("no_text")
        if isinstance(text, str) and len(text) > MAX_TEXT:
            raise _Reject("msg_too_long")
        if blocks is not None:
            errors = _block_errors(blocks, MAX_MESSAGE_BLOCKS, "/blocks")
            if errors:
                raise _Reject("invalid_blocks", errors, extra={"errors": errors})
        if attachments is not None and not isinstance(attachments, list):
            raise _Reject("invalid_attachments")
        metadata = params.get("metadata")
        if metadata is not None and (
            not isinstance(metadata, dict)
            or not isinstance(metadata.get("event_type"), str)
            or not re.fullmatch(r"[A-Za-z0-9_]{1,255}", metadata["event_type"])
            or not isinstance(metadata.get("event_payload"), dict)
        ):
            raise _Reject("invalid_metadata_format")

    @staticmethod
    def _public(message: dict[str, Any]) -> dict[str, Any]:
        """A stored message as Slack returns it: without our ``channel`` key, and without
        ``thread_ts`` unless the message is in a thread."""
        return {k: v for k, v in message.items() if k != "channel" and not (k == "thread_ts" and v is None)}

    # -- methods ---------------------------------------------------------------------

    def _auth_test(self, rec: RecordedRequest) -> dict[str, Any]:
        return {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_domain,
            "user": "madoguchi",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _connections_open(self, rec: RecordedRequest) -> dict[str, Any]:
        ticket = secrets.token_hex(16)
        self._socket_tickets.add(ticket)
        return {"url": f"ws://127.0.0.1:{self._port}{SOCKET_PATH}{ticket}"}

    def _post_message(self, rec: RecordedRequest) -> dict[str, Any]:
        params = rec.params
        channel = self._channel(params)
        self._check_content(params)
        message = self._bot_message(channel, params)
        message["ts"] = self._next_ts()
        thread_ts = params.get("thread_ts")
        if thread_ts:
            self._attach_reply(channel, str(thread_ts), message)
            if _flag(params.get("reply_broadcast")):
                message["subtype"] = "thread_broadcast"
        self.messages.append(message)
        return {"channel": channel, "ts": message["ts"], "message": self._public(message)}

    def _own_message(self, params: dict[str, Any], not_own: str) -> tuple[str, dict[str, Any]]:
        """The channel and the bot's own message named by `channel` and `ts` (a bot token may change
        only its own messages: `not_own` is Slack's error for anyone else's)."""
        channel = self._channel(params)
        ts = params.get("ts")
        message = self.message(channel, ts) if isinstance(ts, str) else None
        if message is None:
            raise _Reject("message_not_found")
        if message.get("user") != self.bot_user_id:
            raise _Reject(not_own)
        return channel, message

    def _update(self, rec: RecordedRequest) -> dict[str, Any]:
        params = rec.params
        channel, message = self._own_message(params, "cant_update_message")
        self._check_content(params)
        for key in ("text", "blocks", "attachments", "metadata"):
            if key in params:
                message[key] = params[key]
        message["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        return {
            "channel": channel,
            "ts": message["ts"],
            "text": message.get("text", ""),
            "message": self._public(message),
        }

    def _delete(self, rec: RecordedRequest) -> dict[str, Any]:
        """chat.delete: a bot token deletes only the bot's own messages (else cant_delete_message)."""
        channel, message = self._own_message(rec.params, "cant_delete_message")
        self.messages.remove(message)
        return {"channel": channel, "ts": message["ts"]}

    def _post_ephemeral(self, rec: RecordedRequest) -> dict[str, Any]:
        params = rec.params
        channel = self._channel(params)
        user = params.get("user")
        if not isinstance(user, str) or not user:
            raise _Reject("user_not_found")
        if channel in self.members and user not in self.members[channel]:
            raise _Reject("user_not_in_channel")
        self._check_content(params)
        message = self._bot_message(channel, params)
        message["ts"] = self._next_ts()
        message["to_user"] = user
        if params.get("thread_ts"):
            message["thread_ts"] = str(params["thread_ts"])
        self.ephemerals.append(message)
        return {"message_ts": message["ts"]}

    def _reactions_add(self, rec: RecordedRequest) -> dict[str, Any]:
        """As Slack: the name without colons (``memo``, ``+1``, ``wave::skin-tone-2``), on a stored
        message; the same user adding the same reaction twice gets ``already_reacted``."""
        params = rec.params
        channel = self._channel(params)
        ts, name = params.get("timestamp"), params.get("name")
        if not isinstance(ts, str) or not ts:
            raise _Reject("no_item_specified")
        if not isinstance(name, str) or not _reaction_name(name):
            raise _Reject("invalid_name")
        seconds, _, micros = ts.partition(".")
        if not (seconds.isdigit() and micros.isdigit() and len(micros) == 6):
            raise _Reject("bad_timestamp")
        message = self.message(channel, ts)
        if message is None:
            raise _Reject("message_not_found")
        reactions: list[dict[str, Any]] = message.setdefault("reactions", [])
        reaction = next((r for r in reactions if r["name"] == name), None)
        if reaction is None:
            if len(reactions) >= MAX_REACTIONS:
                raise _Reject("too_many_reactions")
            reaction = {"name": name, "users": [], "count": 0}
            reactions.append(reaction)
        if self.bot_user_id in reaction["users"]:
            raise _Reject("already_reacted")
        reaction["users"].append(self.bot_user_id)
        reaction["count"] += 1
        return {}

    def reactions_on(self, channel: str, ts: str) -> list[str]:
        """The names of the reactions on a stored message, in the order added."""
        message = self.message(channel, ts)
        return [str(r["name"]) for r in (message or {}).get("reactions", [])]

    def _take_trigger(self, params: dict[str, Any]) -> str | None:
        trigger_id = params.get("trigger_id") or params.get("interactivity_pointer")
        if not isinstance(trigger_id, str) or not trigger_id:
            raise _Reject("invalid_arguments", ["missing required field: trigger_id"])
        if trigger_id in self._used_triggers:
            raise _Reject("exchanged_trigger_id")
        self._used_triggers.add(trigger_id)
        return self._triggers.pop(trigger_id, None)

    def _make_view(self, spec: dict[str, Any], view_id: str, kind: str) -> dict[str, Any]:
        return {
            "id": view_id,
            "team_id": self.team_id,
            "type": spec.get("type", kind),
            "blocks": spec.get("blocks", []),
            "private_metadata": spec.get("private_metadata", ""),
            "callback_id": spec.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"{int(self.wall())}.{secrets.token_hex(4)}",
            "title": spec.get("title"),
            "clear_on_close": bool(spec.get("clear_on_close", False)),
            "notify_on_close": bool(spec.get("notify_on_close", False)),
            "close": spec.get("close"),
            "submit": spec.get("submit"),
            "previous_view_id": None,
            "root_view_id": view_id,
            "app_id": self.app_id,
            "external_id": spec.get("external_id", ""),
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }

    def _views_open(self, rec: RecordedRequest) -> dict[str, Any]:
        spec = _view_spec(rec.params, "modal")
        user = self._take_trigger(rec.params)
        external_id = spec.get("external_id")
        if external_id and any(v.get("external_id") == external_id for v in self.open_views.values()):
            raise _Reject("duplicate_external_id")
        view = self._make_view(spec, self._id("V"), "modal")
        self.open_views[view["id"]] = view
        self.views.append(ViewEvent("open", view["id"], user, view))
        return {"view": view}

    def _views_update(self, rec: RecordedRequest) -> dict[str, Any]:
        params = rec.params
        view_id, external_id = params.get("view_id"), params.get("external_id")
        current: dict[str, Any] | None = None
        if view_id:
            current = self.open_views.get(str(view_id))
        elif external_id:
            current = next((v for v in self.open_views.values() if v["external_id"] == external_id), None)
        else:
            raise _Reject("invalid_arguments", ["missing required field: view_id or external_id"])
        if current is None:
            raise _Reject("not_found")
        spec = _view_spec(params, "modal")
        if params.get("hash") and params["hash"] != current["hash"]:
            raise _Reject("hash_conflict")
        user = next((e.user_id for e in self.views if e.view_id == current["id"]), None)
        view = self._make_view({"external_id": current["external_id"], **spec}, current["id"], "modal")
        self.open_views[view["id"]] = view
        self.views.append(ViewEvent("update", view["id"], user, view))
        return {"view": view}

    def _views_publish(self, rec: RecordedRequest) -> dict[str, Any]:
        params = rec.params
        user_id = params.get("user_id")
        if not isinstance(user_id, str) or not user_id:
            raise _Reject("invalid_arguments", ["missing required field: user_id"])
        spec = _view_spec(params, "home")
        current = self.home_views.get(user_id)
        if current is not None and params.get("hash") and params["hash"] != current["hash"]:
            raise _Reject("hash_conflict")
        view_id = current["id"] if current is not None else self._id("V")
        view = self._make_view(spec, view_id, "home")
        self.home_views[user_id] = view
        self.views.append(ViewEvent("publish", view_id, user_id, view))
        return {"view": view}

    def _users_info(self, rec: RecordedRequest) -> dict[str, Any]:
        user = self.users.get(str(rec.params.get("user", "")))
        if user is None:
            raise _Reject("user_not_found")
        return {"user": user}

    def _conversations_members(self, rec: RecordedRequest) -> dict[str, Any]:
        channel = self._channel(rec.params)
        members = self.members.get(channel, [])
        # Slack returns at most 1,000 a page, and "fewer than the requested number of items may be
        # returned, even if the end of the list hasn't been reached": members_page_max plays that.
        limit = min(
            _int(rec.params.get("limit"), 100) or 100, MAX_MEMBERS_PAGE, self.members_page_max or 1000
        )
        cursor = rec.params.get("cursor") or ""
        start = int(cursor[len("next:") :]) if isinstance(cursor, str) and cursor.startswith("next:") else 0
        page = members[start : start + limit]
        more = start + limit < len(members)
        return {
            "members": page,
            "response_metadata": {"next_cursor": f"next:{start + limit}" if more else ""},
        }

    def _conversations_info(self, rec: RecordedRequest) -> dict[str, Any]:
        channel_id = self._channel(rec.params)
        known = self._channels.get(channel_id) if self._channels is not None else None
        channel = known or _Channel(channel_id, channel_id.lower())
        members = self.members.get(channel_id)
        info: dict[str, Any] = {
            "id": channel.id,
            "name": channel.name,
            "is_channel": True,
            "is_group": False,
            "is_im": False,
            "is_private": channel.is_private,
            "is_archived": False,
            "is_general": False,
            "is_member": members is None or self.bot_user_id in members,
            "created": 1700000000,
            "creator": "U_ADMIN",
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
        }
        if _flag(rec.params.get("include_num_members")):
            info["num_members"] = len(members or [])
        return {"channel": info}

    def _conversations_history(self, rec: RecordedRequest) -> dict[str, Any]:
        """A channel's top-level messages (thread roots and broadcast replies), newest first, between
        ``oldest`` and ``latest`` (exclusive unless ``inclusive``), paged with a cursor."""
        params = rec.params
        channel = self._channel(params)
        oldest, latest = _ts_bound(params, "oldest", 0.0), _ts_bound(params, "latest", math.inf)
        inclusive = _flag(params.get("inclusive"))

        def within(message: dict[str, Any]) -> bool:
            ts = float(message["ts"])
            if inclusive:
                return oldest <= ts <= latest
            return oldest < ts < latest

        found = [m for m in reversed(self.messages_in(channel)) if within(m)]
        return self._page(params, found, default=100, most=MAX_HISTORY_PAGE)

    def _conversations_replies(self, rec: RecordedRequest) -> dict[str, Any]:
        """A thread: its root, then its replies oldest first (Slack repeats the root at the top of
        every page); a ts that is not a message is thread_not_found."""
        params = rec.params
        channel = self._channel(params)
        ts = params.get("ts")
        root = self.message(channel, ts) if isinstance(ts, str) else None
        if root is None:
            raise _Reject("thread_not_found")
        if root.get("thread_ts") not in (None, root["ts"]):  # a reply names the thread it is in
            root = self.message(channel, str(root["thread_ts"])) or root
        replies = self.messages_in(channel, str(root["ts"]))
        page = self._page(params, replies, default=MAX_REPLIES_PAGE, most=MAX_REPLIES_PAGE)
        page["messages"] = [self._listed(root, params), *page["messages"]]
        return page

    def _page(
        self, params: dict[str, Any], found: list[dict[str, Any]], *, default: int, most: int
    ) -> dict[str, Any]:
        limit = min(_int(params.get("limit"), default) or default, most)
        cursor = params.get("cursor") or ""
        start = 0
        if cursor:
            if not isinstance(cursor, str) or not cursor.startswith("next:") or not cursor[5:].isdigit():
                raise _Reject("invalid_cursor")
            start = int(cursor[len("next:") :])
        page = found[start : start + limit]
        more = start + limit < len(found)
        return {
            "messages": [self._listed(m, params) for m in page],
            "has_more": more,
            "response_metadata": {"next_cursor": f"next:{start + limit}" if more else ""},
        }

    def _listed(self, message: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        """A message as history lists it: its metadata only when asked for (include_all_metadata)."""
        shown = self._public(message)
        if not _flag(params.get("include_all_metadata")):
            shown.pop("metadata", None)
        return shown

    # -- files (the v2 upload flow) --------------------------------------------------

    def _get_upload_url(self, rec: RecordedRequest) -> dict[str, Any]:
        params = rec.params
        filename = params.get("filename")
        length = _int(params.get("length"), -1)
        if not isinstance(filename, str) or not filename:
            raise _Reject("invalid_arguments", ["missing required field: filename"])
        if length < 0:
            raise _Reject("invalid_arguments", ["missing required field: length"])
        upload = Upload(
            file_id=self._id("F"),
            filename=filename,
            length=length,
            alt_txt=params.get("alt_txt"),
            snippet_type=params.get("snippet_type"),
        )
        self.uploads.append(upload)
        key = secrets.token_urlsafe(16)
        self._upload_keys[key] = upload.file_id
        return {"upload_url": f"{self.base_url}/upload/v1/{key}", "file_id": upload.file_id}

    def _upload(self, rec: RecordedRequest) -> tuple[web.Response, dict[str, Any]]:
        file_id = self._upload_keys.get(rec.path[len("/upload/v1/") :])
        upload = self._upload_by_id(file_id) if file_id is not None else None
        if upload is None or upload.completed or rec.http_method != "POST":
            return web.Response(status=404, text="Not Found", content_type="text/plain"), {"ok": False}
        upload.data = rec.body
        return web.Response(status=200, text=f"OK - {len(rec.body)}", content_type="text/plain"), {"ok": True}

    def _upload_by_id(self, file_id: str) -> Upload | None:
        return next((u for u in self.uploads if u.file_id == file_id), None)

    def _complete_upload(self, rec: RecordedRequest) -> dict[str, Any]:
        params = rec.params
        files = params.get("files")
        if not isinstance(files, list) or not files:
            raise _Reject("invalid_arguments", ["missing required field: files"])
        channel_param = params.get("channel_id") or params.get("channels")
        channel: str | None = None
        if channel_param:
            channel = self._channel({"channel": str(channel_param).split(",")[0]})
        thread_ts = params.get("thread_ts") or None
        uploads: list[Upload] = []
        for item in files:
            upload = self._upload_by_id(str(item.get("id"))) if isinstance(item, dict) else None
            if upload is None or upload.data is None or upload.completed:
                raise _Reject("file_not_found")
            uploads.append(upload)
        message: dict[str, Any] | None = None
        if channel is not None:
            message = self._bot_message(channel, {"text": params.get("initial_comment") or ""})
            message["ts"] = self._next_ts()
            message["subtype"] = "file_share"
            message["upload"] = True
            if thread_ts:
                self._attach_reply(channel, str(thread_ts), message)
        infos: list[dict[str, Any]] = []
        for upload, item in zip(uploads, files, strict=True):
            upload.completed = True
            upload.title = item.get("title") or upload.filename
            upload.channel = channel
            upload.thread_ts = str(thread_ts) if thread_ts else None
            upload.initial_comment = params.get("initial_comment")
            upload.message_ts = message["ts"] if message is not None else None
            infos.append(self._file_info(upload))
        if message is not None:
            message["files"] = infos
            self.messages.append(message)
        return {"files": infos}

    def _file_info(self, upload: Upload) -> dict[str, Any]:
        data = upload.data or b""
        info: dict[str, Any] = {
            "id": upload.file_id,
            "created": int(self.wall()),
            "timestamp": int(self.wall()),
            "name": upload.filename,
            "title": upload.title,
            "mimetype": _mimetype(upload.filename),
            "filetype": upload.filename.rsplit(".", 1)[-1].lower() if "." in upload.filename else "binary",
            "user": self.bot_user_id,
            "size": len(data),
            "is_public": upload.channel is not None,
            "url_private": f"https://files.slack.com/files-pri/{self.team_id}-{upload.file_id}/{upload.filename}",
            "permalink": f"https://{self.team_domain}.slack.com/files/{self.bot_user_id}/{upload.file_id}",
            "sha1": hashlib.sha1(data).hexdigest(),
        }
        if upload.channel is not None and upload.message_ts is not None:
            share: dict[str, Any] = {"ts": upload.message_ts, "channel_name": upload.channel.lower()}
            if upload.thread_ts is not None:
                share["thread_ts"] = upload.thread_ts
            info["channels"] = [upload.channel]
            info["shares"] = {"public": {upload.channel: [share]}}
        return info


# -- helpers -------------------------------------------------------------------------


def _json(status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    response = web.Response(
        status=status,
        text=wire_json(payload),
        content_type="application/json",
    )
    response.headers.update(headers or {})
    return response


def _parse_params(query: dict[str, str], body: bytes, content_type: str) -> dict[str, Any]:
    """Query string + body as Slack reads them: form or JSON, JSON-text fields decoded."""
    params: dict[str, Any] = dict(query)
    media = content_type.split(";")[0].strip().lower()
    if body and media == "application/json":
        try:
            payload = json.loads(body)
        except ValueError:
            raise _Reject("invalid_json") from None
        if not isinstance(payload, dict):
            raise _Reject("invalid_json")
        params.update(payload)
    elif body:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise _Reject("invalid_form_data") from None
        params.update(parse_qsl(text, keep_blank_values=True))
    for key in JSON_FIELDS:
        value = params.get(key)
        if isinstance(value, str) and value:
            try:
                params[key] = json.loads(value)
            except ValueError:
                raise _Reject(
                    "invalid_blocks_format" if key == "blocks" else "invalid_arguments",
                    [f"{key} must be valid JSON"],
                ) from None
    return params


def _ts_bound(params: dict[str, Any], key: str, default: float) -> float:
    """`oldest` / `latest` of a history call: a ts (or Unix time); anything else is refused."""
    value = params.get(key)
    if value in (None, ""):
        return default
    try:
        return float(str(value))
    except ValueError:
        raise _Reject(f"invalid_ts_{key}") from None


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in ("1", "true")
    return bool(value)


def _int(value: Any, default: int) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return default


def _mimetype(filename: str) -> str:
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    return {
        "pdf": "application/pdf",
        "png": "image/png",
        "jpg": "image/jpeg",
        "jpeg": "image/jpeg",
        "csv": "text/csv",
        "txt": "text/plain",
        "ics": "text/calendar",
        "json": "application/json",
    }.get(ext, "application/octet-stream")


def _reaction_name(name: str) -> bool:
    """An emoji name as reactions.add takes it: no colons around it, lower case, an optional skin tone."""
    base, _, tone = name.partition("::")
    allowed = set("abcdefghijklmnopqrstuvwxyz0123456789_+'-")
    tones = {"", *(f"skin-tone-{n}" for n in range(2, 7))}
    return bool(base) and set(base) <= allowed and tone in tones


def _text_of(obj: Any) -> str | None:
    if isinstance(obj, dict) and isinstance(obj.get("text"), str):
        return str(obj["text"])
    return None


def _block_errors(blocks: Any, max_blocks: int, where: str) -> list[str]:
    """Block Kit rules Slack enforces (a useful subset), as its ``invalid_blocks`` messages."""
    if not isinstance(blocks, list):
        return [f"must be an array [json-pointer:{where}]"]
    errors: list[str] = []
    if len(blocks) > max_blocks:
        errors.append(f"no more than {max_blocks} items allowed [json-pointer:{where}]")
    seen_ids: set[str] = set()
    for i, block in enumerate(blocks):
        at = f"{where}/{i}"
        if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
            errors.append(f"invalid block type [json-pointer:{at}/type]")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or len(block_id) > MAX_ID:
                errors.append(f"must be less than {MAX_ID + 1} characters [json-pointer:{at}/block_id]")
            elif block_id in seen_ids:
                errors.append(f"duplicate block_id [json-pointer:{at}/block_id]")
            else:
                seen_ids.add(block_id)
        kind = block["type"]
        if kind == "section":
            text, fields = _text_of(block.get("text")), block.get("fields")
            if text is None and not fields:
                errors.append(f"must provide either text or fields [json-pointer:{at}]")
            if text is not None and not 1 <= len(text) <= MAX_SECTION_TEXT:
                errors.append(
                    f"must be between 1 and {MAX_SECTION_TEXT} characters [json-pointer:{at}/text/text]"
                )
            if fields is not None:
                if not isinstance(fields, list) or len(fields) > MAX_SECTION_FIELDS:
                    errors.append(
                        f"no more than {MAX_SECTION_FIELDS} items allowed [json-pointer:{at}/fields]"
                    )
                else:
                    for j, f in enumerate(fields):
                        ft = _text_of(f)
                        if ft is None or not 1 <= len(ft) <= MAX_FIELD_TEXT:
                            errors.append(
                                f"must be between 1 and {MAX_FIELD_TEXT} characters "
                                f"[json-pointer:{at}/fields/{j}/text]"
                            )
        elif kind == "header":
            text_obj = block.get("text")
            text = _text_of(text_obj)
            if not isinstance(text_obj, dict) or text_obj.get("type") != "plain_text":
                errors.append(f"must be a plain_text object [json-pointer:{at}/text]")
            elif text is None or not 1 <= len(text) <= MAX_HEADER_TEXT:
                errors.append(
                    f"must be between 1 and {MAX_HEADER_TEXT} characters [json-pointer:{at}/text/text]"
                )
        elif kind == "actions":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= MAX_ACTIONS_ELEMENTS:
                errors.append(
                    f"must have between 1 and {MAX_ACTIONS_ELEMENTS} items [json-pointer:{at}/elements]"
                )
            else:
                errors += _element_errors(elements, f"{at}/elements")
        elif kind == "input":
            label = _text_of(block.get("label"))
            if label is None or not 1 <= len(label) <= MAX_FIELD_TEXT:
                errors.append(
                    f"must be between 1 and {MAX_FIELD_TEXT} characters [json-pointer:{at}/label/text]"
                )
            if not isinstance(block.get("element"), dict):
                errors.append(f"missing required field: element [json-pointer:{at}]")
        elif kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
                errors.append(f"must have between 1 and 10 items [json-pointer:{at}/elements]")
    return errors


def _element_errors(elements: list[Any], where: str) -> list[str]:
    errors: list[str] = []
    action_ids: set[str] = set()
    for j, element in enumerate(elements):
        at = f"{where}/{j}"
        if not isinstance(element, dict) or not isinstance(element.get("type"), str):
            errors.append(f"invalid element [json-pointer:{at}]")
            continue
        action_id = element.get("action_id")
        if isinstance(action_id, str):
            if len(action_id) > MAX_ID:
                errors.append(f"must be less than {MAX_ID + 1} characters [json-pointer:{at}/action_id]")
            elif action_id in action_ids:
                errors.append(f"duplicate action_id [json-pointer:{at}/action_id]")
            action_ids.add(action_id)
        if element["type"] == "button":
            text = _text_of(element.get("text"))
            if text is None or not 1 <= len(text) <= MAX_BUTTON_TEXT:
                errors.append(
                    f"must be between 1 and {MAX_BUTTON_TEXT} characters [json-pointer:{at}/text/text]"
                )
            value = element.get("value")
            if value is not None and (not isinstance(value, str) or len(value) > MAX_BUTTON_VALUE):
                errors.append(
                    f"must be less than {MAX_BUTTON_VALUE + 1} characters [json-pointer:{at}/value]"
                )
    return errors


def _view_spec(params: dict[str, Any], kind: str) -> dict[str, Any]:
    """The ``view`` argument, checked as Slack does (``invalid_arguments`` with messages)."""
    spec = params.get("view")
    if not isinstance(spec, dict):
        raise _Reject("invalid_arguments", ["missing required field: view"])
    errors: list[str] = []
    if spec.get("type") != kind:
        errors.append(f"must be '{kind}' [json-pointer:/view/type]")
    if kind == "modal":
        title = spec.get("title")
        text = _text_of(title)
        if not isinstance(title, dict) or title.get("type") != "plain_text" or text is None:
            errors.append("missing required field: title [json-pointer:/view/title]")
        elif not 1 <= len(text) <= MAX_VIEW_TITLE:
            errors.append(
                f"must be between 1 and {MAX_VIEW_TITLE} characters [json-pointer:/view/title/text]"
            )
        for key in ("submit", "close"):
            button = spec.get(key)
            label = _text_of(button)
            if button is not None and (label is None or not 1 <= len(label) <= MAX_VIEW_TITLE):
                errors.append(
                    f"must be between 1 and {MAX_VIEW_TITLE} characters [json-pointer:/view/{key}/text]"
                )
        has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in spec.get("blocks") or [])
        if has_input and spec.get("submit") is None:
            errors.append("submit is required when an input block is present [json-pointer:/view/submit]")
    metadata = spec.get("private_metadata", "")
    if not isinstance(metadata, str) or len(metadata) > MAX_PRIVATE_METADATA:
        errors.append(
            f"must be less than {MAX_PRIVATE_METADATA + 1} characters [json-pointer:/view/private_metadata]"
        )
    callback_id = spec.get("callback_id", "")
    if not isinstance(callback_id, str) or len(callback_id) > MAX_ID:
        errors.append(f"must be less than {MAX_ID + 1} characters [json-pointer:/view/callback_id]")
    errors += _block_errors(spec.get("blocks", []), MAX_VIEW_BLOCKS, "/view/blocks")
    if errors:
        raise _Reject("invalid_arguments", errors)
    return spec


# -- what Slack would render -----------------------------------------------------------

_CONTROL = re.compile(r"<([^<>]*)>")
_BROADCASTS = ("!channel", "!here", "!everyone", "!subteam^")


def _parsed_texts(surface: Any) -> list[str]:
    """The texts Slack parses for markup: a message's (or ack's) top-level ``text`` and every
    ``mrkdwn`` text object in its blocks (``plain_text`` objects are shown literally). A message's
    ``"mrkdwn": false`` turns off styling only: ``<!channel>`` and ``<url|label>`` in it still act."""
    found: list[str] = []
    if not isinstance(surface, dict):
        return found
    if isinstance(surface.get("text"), str):
        found.append(surface["text"])

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn" and isinstance(node.get("text"), str):
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(surface.get("blocks"))
    walk(surface.get("attachments"))
    return found


def control_sequences(surface: Any) -> list[str]:
    """Every ``<…>`` control sequence Slack would act on in a message, view or ack payload."""
    return [m.group(0) for text in _parsed_texts(surface) for m in _CONTROL.finditer(text)]


def alarms(surface: Any, allowed: Iterable[str] = ()) -> list[str]:
    """Control sequences that ping (``<!channel>``, ``<!here>``, ``<!everyone>``, a user group,
    a ``<@U…>`` not in ``allowed``) or show a link, of any scheme, under a label that is not its
    address."""
    ok = set(allowed)
    bad: list[str] = []
    for sequence in control_sequences(surface):
        if sequence in ok:
            continue
        inner = sequence[1:-1]
        target, _, label = inner.partition("|")
        pings = target.startswith((*_BROADCASTS, "@"))
        # Any other target with a label is a link Slack shows under that label (https, mailto, tel,
        # slack://, ftp…); channels (#C…) and broadcasts name themselves.
        disguised = not target.startswith(("#", "!")) and bool(label) and label != target
        if pings or disguised:
            bad.append(sequence)
    return bad
