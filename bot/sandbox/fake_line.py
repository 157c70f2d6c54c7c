"""A fake LINE Messaging API served over real HTTP on 127.0.0.1.

The real SDK client (``AsyncMessagingApi`` / ``AsyncMessagingApiBlob`` with
``Configuration(host=line.base_url)``) talks to it, so tests exercise the same wire
format, headers and error bodies as production. One server answers both the
``api.line.me`` and the ``api-data.line.me`` endpoints.

Only what madoguchi uses is implemented; the validation rules are the ones LINE
enforces server side and the SDK does not (lengths, retry keys, reply tokens, quota).
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from aiohttp import web

from bot.sandbox.loopback import LoopbackServer, wire_json

__all__ = ["FakeLine", "OutgoingMessage", "RecordedRequest", "utf16_len"]

FailMode = int | str
FAIL_MODES: frozenset[FailMode] = frozenset(
    {500, 429, "monthly_limit", "timeout", "drop", "lost_response", "accept_then_hang"}
)

REPLY_TOKEN_TTL = 60.0
MAX_MESSAGES = 5
MAX_TEXT_UTF16 = 5000
MAX_QUICK_REPLY_ITEMS = 13
MAX_QUICK_REPLY_LABEL = 20
MAX_ALT_TEXT = 400
MAX_CONFIRM_TEXT = 240
MAX_ACTION_LABEL = 20
MAX_CAROUSEL_BUBBLES = 12
MAX_MULTICAST_TO = 500
MAX_RICH_MENU_IMAGE = 1024 * 1024

AUTH_FAILED = "Authentication failed. Confirm that the access token in the authorization header is valid."
MONTHLY_LIMIT = "You have reached your monthly limit."
MESSAGE_TYPES = frozenset(
    {"text", "textV2", "sticker", "image", "video", "audio", "location", "imagemap", "template", "flex"}
)
# Group and room ids as LINE writes them (pushes to them are checked against the groups the bot is in).
_GROUP_ID_RE = re.compile(r"^[CR][0-9a-f]{32}$")
_RETRY_KEY_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def utf16_len(text: str) -> int:
    """Length as LINE counts it: UTF-16 code units (an emoji outside the BMP is 2)."""
    return len(text.encode("utf-16-le")) // 2


@dataclass
class RecordedRequest:
    """One request as the fake received it. ``status`` is 0 while no answer was sent
    (a "timeout" still hanging, or a "drop")."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any | None
    status: int = 0


class OutgoingMessage(NamedTuple):
    """A message LINE accepted: ``kind`` is "reply", "push" or "multicast"."""

    kind: str
    to: str | list[str]
    message: dict[str, Any]


@dataclass
class _RichMenu:
    rich_menu_id: str
    body: dict[str, Any]
    image: bytes | None = None
    image_type: str | None = None


class _Reject(Exception):
    """Raised by an endpoint to answer an error body as LINE does."""

    def __init__(
        self,
        status: int,
        message: str,
        details: list[tuple[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details or []
        self.headers = headers or {}
        self.extra = extra or {}

    @classmethod
    def invalid(cls, details: list[tuple[str, str]]) -> _Reject:
        # LINE's shape for request-body validation failures.
        return cls(400, f"The request body has {len(details)} error(s)", details)


Handler = Callable[[RecordedRequest, re.Match[str]], web.Response]


class FakeLine(LoopbackServer):
    """In-process LINE platform. Use ``async with FakeLine() as line:``."""

    def __init__(self, access_token: str = "test-access-token", quota: int = 200) -> None:
        super().__init__()
        self.access_token = access_token
        self.quota = quota
        self.now: Callable[[], float] = time.monotonic
        self.requests: list[RecordedRequest] = []
        self.profiles: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, str] = {}
        self.contents: dict[str, tuple[bytes, str]] = {}
        self.rich_menus: dict[str, _RichMenu] = {}
        self.default_rich_menu: str | None = None
        self.usage = 0
        # GET /v2/bot/info, in LINE's shape (premiumId and pictureUrl only when the account has them).
        self.bot_info: dict[str, Any] = {
            "userId": "Ub9952f8e9b9b3b4c6a1e2f3a4b5c6d7e",
            "basicId": "@216ruybk",
            "displayName": "横浜市市民協働推進センター",
            "chatMode": "bot",
            "markAsReadMode": "auto",
        }
        self._sent: list[OutgoingMessage] = []
        self._reply_tokens: dict[str, tuple[str, float]] = {}
        # retry key -> (request id of the accepted request, its sentMessages)
        self._accepted_keys: dict[str, tuple[str, list[dict[str, str]]]] = {}
        self._failures: list[tuple[FailMode, str | None]] = []
        self._message_ids = itertools.count(560000000000000001)
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = [
            ("POST", re.compile(r"/v2/bot/message/reply"), self._reply),
            ("POST", re.compile(r"/v2/bot/message/push"), self._push),
            ("POST", re.compile(r"/v2/bot/message/multicast"), self._multicast),
            ("GET", re.compile(r"/v2/bot/info"), self._bot_info),
            ("GET", re.compile(r"/v2/bot/message/quota"), self._quota),
            ("GET", re.compile(r"/v2/bot/message/quota/consumption"), self._consumption),
            ("GET", re.compile(r"/v2/bot/message/(?P<id>[^/]+)/content"), self._content),
            ("GET", re.compile(r"/v2/bot/profile/(?P<id>[^/]+)"), self._profile),
            ("GET", re.compile(r"/v2/bot/group/(?P<id>[^/]+)/summary"), self._group_summary),
            ("POST", re.compile(r"/v2/bot/chat/loading/start"), self._loading),
            ("POST", re.compile(r"/v2/bot/richmenu"), self._create_rich_menu),
            ("GET", re.compile(r"/v2/bot/richmenu/list"), self._list_rich_menus),
            ("GET", re.compile(r"/v2/bot/richmenu/(?P<id>[^/]+)"), self._get_rich_menu),
            ("DELETE", re.compile(r"/v2/bot/richmenu/(?P<id>[^/]+)"), self._delete_rich_menu),
            ("POST", re.compile(r"/v2/bot/richmenu/(?P<id>[^/]+)/content"), self._upload_image),
            ("GET", re.compile(r"/v2/bot/richmenu/(?P<id>[^/]+)/content"), self._download_image),
            ("POST", re.compile(r"/v2/bot/user/all/richmenu/(?P<id>[^/]+)"), self._set_default),
            ("GET", re.compile(r"/v2/bot/user/all/richmenu"), self._get_default),
            ("DELETE", re.compile(r"/v2/bot/user/all/richmenu"), self._clear_default),
        ]

    # -- test controls ---------------------------------------------------------------

    def issue_reply_token(self, user_id: str) -> str:
        """A reply token for ``user_id``: single use, valid for 60 s of ``self.now``."""
        token = secrets.token_hex(16)
        self._reply_tokens[token] = (user_id, self.now())
        return token

    def set_profile(
        self,
        user_id: str,
        display_name: str,
        *,
        language: str | None = None,
        picture_url: str | None = None,
        status_message: str | None = None,
    ) -> None:
        profile: dict[str, Any] = {"displayName": display_name, "userId": user_id}
        for key, value in (
            ("language", language),
            ("pictureUrl", picture_url),
            ("statusMessage", status_message),
        ):
            if value is not None:
                profile[key] = value
        self.profiles[user_id] = profile

    def set_group(self, group_id: str, group_name: str) -> None:
        """The bot is in this group (C…) or room (R…): pushes to it are accepted, its summary known."""
        self.groups[group_id] = group_name

    def leave_group(self, group_id: str) -> None:
        """The bot is no longer in the group: LINE refuses pushes to it."""
        self.groups.pop(group_id, None)

    def set_content(self, message_id: str, data: bytes, content_type: str = "image/jpeg") -> None:
        self.contents[message_id] = (data, content_type)

    def fail_next(self, *modes: FailMode, path: str | None = None) -> None:
        """Queue failures, consumed one per matching request in order.

        Modes: 500, 429, "monthly_limit", "timeout" (hold the request for
        ``hang_seconds``, then 500), "drop" (close the connection unanswered) and
        "lost_response" (carry the request out, then close the connection unanswered:
        the sender cannot know that LINE accepted it) and "accept_then_hang" (carry
        it out, then hold the answer for ``hang_seconds`` and drop it: a process killed
        meanwhile never learns that LINE accepted).
        ``path`` restricts a failure to requests whose path starts with it.
        """
        for mode in modes:
            if mode not in FAIL_MODES:
                raise ValueError(f"unknown failure mode {mode!r}")
            self._failures.append((mode, path))

    def sent_messages(self, user_id: str | None = None) -> list[OutgoingMessage]:
        """Messages LINE accepted, in order; optionally only those reaching ``user_id``."""
        if user_id is None:
            return list(self._sent)
        return [m for m in self._sent if m.to == user_id or (isinstance(m.to, list) and user_id in m.to)]

    def sent_texts(self, user_id: str | None = None) -> list[str]:
        return [
            str(m.message.get("text", ""))
            for m in self.sent_messages(user_id)
            if m.message.get("type") == "text"
        ]

    def find_requests(self, path: str | None = None, method: str | None = None) -> list[RecordedRequest]:
        """Recorded requests whose path starts with ``path`` (and method matches)."""
        return [
            r
            for r in self.requests
            if (path is None or r.path.startswith(path)) and (method is None or r.method == method)
        ]

    # -- dispatch --------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        parsed: Any | None = None
        if body and "json" in request.headers.get("Content-Type", ""):
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        rec = RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            json=parsed,
        )
        self.requests.append(rec)

        mode = self._take_failure(request.path)
        if mode == "drop":
            return self._drop(request)
        if mode == "timeout":
            await self._hang()
        if mode is not None and mode not in ("lost_response", "accept_then_hang"):
            response = self._fail_response(mode)
        else:
            try:
                if request.headers.get("Authorization") != f"Bearer {self.access_token}":
                    raise _Reject(401, AUTH_FAILED)
                handler, match = self._route(request.method, request.path)
                response = handler(rec, match)
            except _Reject as e:
                response = _error_response(e)
        # Accepted sends already carry the id that a later 409 will point back to.
        response.headers.setdefault("x-line-request-id", str(uuid.uuid4()))
        if mode in ("lost_response", "accept_then_hang"):
            if mode == "accept_then_hang":
                await self._hang()
            return self._drop(request)
        rec.status = response.status
        return response

    def _take_failure(self, path: str) -> FailMode | None:
        for i, (mode, prefix) in enumerate(self._failures):
            if prefix is None or path.startswith(prefix):
                del self._failures[i]
                return mode
        return None

    @staticmethod
    def _fail_response(mode: FailMode) -> web.Response:
        if mode == 429:
            return _json(429, {"message": "Too Many Requests"})
        if mode == "monthly_limit":
            return _json(429, {"message": MONTHLY_LIMIT})
        return _json(500, {"message": "Internal server error"})

    def _route(self, method: str, path: str) -> tuple[Handler, re.Match[str]]:
        for route_method, pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if match and route_method == method:
                return handler, match
        raise _Reject(404, "Not found")

    # -- messages --------------------------------------------------------------------

    def _reply(self, rec: RecordedRequest, _m: re.Match[str]) -> web.Response:
        if "x-line-retry-key" in rec.headers:
            # LINE supports retry keys only on push, multicast, narrowcast, broadcast.
            raise _Reject(400, "The retry key is not supported for this request")
        body = _body(rec)
        _check_messages(body.get("messages"))
        token = body.get("replyToken")
        issued = self._reply_tokens.get(token) if isinstance(token, str) else None
        if issued is None or self.now() - issued[1] > REPLY_TOKEN_TTL:
            raise _Reject(400, "Invalid reply token")
        del self._reply_tokens[str(token)]
        sent = self._accept("reply", issued[0], body["messages"])
        return _json(200, {"sentMessages": sent})

    def _push(self, rec: RecordedRequest, _m: re.Match[str]) -> web.Response:
        key = self._check_retry_key(rec, with_sent=True)
        body = _body(rec)
        to = body.get("to")
        to = to if isinstance(to, str) else ""
        errors = [] if to else [("to", "May not be empty")]
        errors += _message_errors(body.get("messages"))
        if errors:
            raise _Reject.invalid(errors)
        if _GROUP_ID_RE.match(to) and to not in self.groups:
            # A group or room the bot is not in (never joined, or left): LINE refuses the recipient.
            raise _Reject(400, "The property, 'to', in the request body is invalid (line: -, column: -)")
        self._charge(len(body["messages"]))
        sent = self._accept("push", to, body["messages"])
        return self._accepted(key, {"sentMessages": sent}, sent)

    def _multicast(self, rec: RecordedRequest, _m: re.Match[str]) -> web.Response:
        key = self._check_retry_key(rec, with_sent=False)
        body = _body(rec)
        to = body.get("to")
        users: list[str] = list(to) if isinstance(to, list) else []
        errors: list[tuple[str, str]] = []
        if not 1 <= len(users) <= MAX_MULTICAST_TO:
            errors.append(("to", f"Size must be between 1 and {MAX_MULTICAST_TO}"))
        elif not all(isinstance(u, str) and u for u in users):
            errors.append(("to", "May not be empty"))
        errors += _message_errors(body.get("messages"))
        if errors:
            raise _Reject.invalid(errors)
        self._charge(len(body["messages"]) * len(users))
        self._accept("multicast", users, body["messages"])
        # Real LINE answers a multicast with an empty object, not sentMessages.
        return self._accepted(key, {}, [])

    def _check_retry_key(self, rec: RecordedRequest, *, with_sent: bool) -> str | None:
        key = rec.headers.get("x-line-retry-key")
        if key is None:
            return None
        if not _RETRY_KEY_RE.match(key):
            raise _Reject(400, "The value for the 'X-Line-Retry-Key' header is invalid")
        key = key.lower()
        accepted = self._accepted_keys.get(key)
        if accepted is not None:
            request_id, sent = accepted
            extra: dict[str, Any] = {"sentMessages": sent} if with_sent and sent else {}
            raise _Reject(
                409,
                "The retry key is already accepted",
                headers={"x-line-accepted-request-id": request_id},
                extra=extra,
            )
        return key

    def _charge(self, count: int) -> None:
        # Pushes and multicasts count against the monthly quota; replies are free.
        if self.usage + count > self.quota:
            raise _Reject(429, MONTHLY_LIMIT)
        self.usage += count

    def _accept(self, kind: str, to: str | list[str], messages: list[dict[str, Any]]) -> list[dict[str, str]]:
        sent = []
        for message in messages:
            self._sent.append(OutgoingMessage(kind, to, message))
            sent.append({"id": str(next(self._message_ids)), "quoteToken": secrets.token_urlsafe(24)})
        return sent

    def _accepted(self, key: str | None, payload: dict[str, Any], sent: list[dict[str, str]]) -> web.Response:
        response = _json(200, payload)
        request_id = str(uuid.uuid4())
        response.headers["x-line-request-id"] = request_id
        if key is not None:
            self._accepted_keys[key] = (request_id, sent)
        return response

    def _loading(self, rec: RecordedRequest, _m: re.Match[str]) -> web.Response:
        body = _body(rec)
        errors: list[tuple[str, str]] = []
        chat_id = body.get("chatId")
        if not isinstance(chat_id, str) or not chat_id:
            errors.append(("chatId", "May not be empty"))
        seconds = body.get("loadingSeconds", 20)
        if not isinstance(seconds, int) or not 5 <= seconds <= 60 or seconds % 5:
            errors.append(("loadingSeconds", "Must be a multiple of 5 between 5 and 60"))
        if errors:
            raise _Reject.invalid(errors)
        return _json(202, {})

    # -- quota, profiles, content ------------------------------------------------------

    def _bot_info(self, _rec: RecordedRequest, _m: re.Match[str]) -> web.Response:
        return _json(200, dict(self.bot_info))

    def _quota(self, _rec: RecordedRequest, _m: re.Match[str]) -> web.Response:
        return _json(200, {"type": "limited", "value": self.quota})

    def _consumption(self, _rec: RecordedRequest, _m: re.Match[str]) -> web.Response:
        return _json(200, {"totalUsage": self.usage})

    def _profile(self, _rec: RecordedRequest, m: re.Match[str]) -> web.Response:
        profile = self.profiles.get(m["id"])
        if profile is None:
            raise _Reject(404, "Not found")
        return _json(200, profile)

    def _group_summary(self, _rec: RecordedRequest, m: re.Match[str]) -> web.Response:
        name = self.groups.get(m["id"])
        if name is None:
            raise _Reject(404, "Not found")
        return _json(200, {"groupId": m["id"], "groupName": name})

    def _content(self, _rec: RecordedRequest, m: re.Match[str]) -> web.Response:
        content = self.contents.get(m["id"])
        if content is None:
            raise _Reject(404, "Not found")
        return web.Response(status=200, body=content[0], content_type=content[1])

    # -- rich menus ------------------------------------------------------------------

    def _create_rich_menu(self, rec: RecordedRequest, _m: re.Match[str]) -> web.Response:
        body = _body(rec)
        errors = _rich_menu_errors(body)
        if errors:
            raise _Reject.invalid(errors)
        rich_menu_id = f"richmenu-{secrets.token_hex(16)}"
        self.rich_menus[rich_menu_id] = _RichMenu(rich_menu_id, body)
        return _json(200, {"richMenuId": rich_menu_id})

    def _menu(self, rich_menu_id: str) -> _RichMenu:
        menu = self.rich_menus.get(rich_menu_id)
        if menu is None:
            raise _Reject(404, "Not found")
        return menu

    def _get_rich_menu(self, _rec: RecordedRequest, m: re.Match[str]) -> web.Response:
        menu = self._menu(m["id"])
        return _json(200, {"richMenuId": menu.rich_menu_id, **menu.body})

    def _list_rich_menus(self, _rec: RecordedRequest, _m: re.Match[str]) -> web.Response:
        menus = [{"richMenuId": m.rich_menu_id, **m.body} for m in self.rich_menus.values()]
        return _json(200, {"richmenus": menus})

    def _delete_rich_menu(self, _rec: RecordedRequest, m: re.Match[str]) -> web.Response:
        self._menu(m["id"])
        del self.rich_menus[m["id"]]
        if self.default_rich_menu == m["id"]:
            self.default_rich_menu = None
        return _json(200, {})

    def _upload_image(self, rec: RecordedRequest, m: re.Match[str]) -> web.Response:
        menu = self._menu(m["id"])
        content_type = rec.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in ("image/png", "image/jpeg"):
            raise _Reject(400, "Content-Type must be image/jpeg or image/png")
        if not rec.body or len(rec.body) > MAX_RICH_MENU_IMAGE:
            raise _Reject(400, "The image must be between 1 byte and 1 MB")
        if menu.image is not None:
            raise _Reject(400, "An image has already been uploaded to the richmenu")
        menu.image, menu.image_type = rec.body, content_type
        return _json(200, {})

    def _download_image(self, _rec: RecordedRequest, m: re.Match[str]) -> web.Response:
        menu = self._menu(m["id"])
        if menu.image is None or menu.image_type is None:
            raise _Reject(404, "Not found")
        return web.Response(status=200, body=menu.image, content_type=menu.image_type)

    def _set_default(self, _rec: RecordedRequest, m: re.Match[str]) -> web.Response:
        menu = self._menu(m["id"])
        if menu.image is None:
            # LINE refuses to show a rich menu that has no image.
            raise _Reject(400, "must upload richmenu image before applying it to user")
        self.default_rich_menu = menu.rich_menu_id
        return _json(200, {})

    def _get_default(self, _rec: RecordedRequest, _m: re.Match[str]) -> web.Response:
        if self.default_rich_menu is None:
            raise _Reject(404, "no default richmenu")
        return _json(200, {"richMenuId": self.default_rich_menu})

    def _clear_default(self, _rec: RecordedRequest, _m: re.Match[str]) -> web.Response:
        self.default_rich_menu = None
        return _json(200, {})


# -- helpers -------------------------------------------------------------------------


def _json(status: int, payload: Any) -> web.Response:
    return web.Response(status=status, text=wire_json(payload), content_type="application/json")


def _error_response(e: _Reject) -> web.Response:
    payload: dict[str, Any] = {"message": e.message}
    if e.details:
        payload["details"] = [{"message": msg, "property": prop} for prop, msg in e.details]
    payload.update(e.extra)
    response = _json(e.status, payload)
    response.headers.update(e.headers)
    return response


def _body(rec: RecordedRequest) -> dict[str, Any]:
    if not isinstance(rec.json, dict):
        raise _Reject(400, "The request body is not a valid JSON object")
    return rec.json


def _check_messages(messages: Any) -> None:
    errors = _message_errors(messages)
    if errors:
        raise _Reject.invalid(errors)


def _message_errors(messages: Any) -> list[tuple[str, str]]:
    """(property, message) pairs for every rule LINE would reject."""
    if not isinstance(messages, list) or not 1 <= len(messages) <= MAX_MESSAGES:
        return [("messages", f"Size must be between 1 and {MAX_MESSAGES}")]
    errors: list[tuple[str, str]] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict) or message.get("type") not in MESSAGE_TYPES:
            allowed = ", ".join(sorted(MESSAGE_TYPES))
            errors.append((f"{where}.type", f"Must be one of the following values: [{allowed}]"))
            continue
        if message["type"] in ("text", "textV2"):
            text = message.get("text")
            if not isinstance(text, str) or not text:
                errors.append((f"{where}.text", "May not be empty"))
            elif utf16_len(text) > MAX_TEXT_UTF16:
                errors.append((f"{where}.text", f"Length must be between 0 and {MAX_TEXT_UTF16}"))
        elif message["type"] == "template":
            errors += _template_errors(message, where)
        elif message["type"] == "flex":
            errors += _flex_errors(message, where)
        quick_reply = message.get("quickReply")
        if quick_reply is None:
            continue
        items = quick_reply.get("items") if isinstance(quick_reply, dict) else None
        if not isinstance(items, list) or not 1 <= len(items) <= MAX_QUICK_REPLY_ITEMS:
            limit = f"Size must be between 1 and {MAX_QUICK_REPLY_ITEMS}"
            errors.append((f"{where}.quickReply.items", limit))
            continue
        for j, item in enumerate(items):
            action = item.get("action") if isinstance(item, dict) else None
            label = action.get("label") if isinstance(action, dict) else None
            if not isinstance(action, dict):
                errors.append((f"{where}.quickReply.items[{j}].action", "May not be null"))
            # LINE counts action labels in grapheme clusters, not UTF-16 units; code points are
            # never fewer, so this is never kinder than LINE.
            elif isinstance(label, str) and len(label) > MAX_QUICK_REPLY_LABEL:
                limit = f"Length must be between 0 and {MAX_QUICK_REPLY_LABEL}"
                errors.append((f"{where}.quickReply.items[{j}].action.label", limit))
    return errors


def _alt_text_errors(message: dict[str, Any], where: str) -> list[tuple[str, str]]:
    alt_text = message.get("altText")
    if not isinstance(alt_text, str) or not alt_text:
        return [(f"{where}.altText", "May not be empty")]
    if utf16_len(alt_text) > MAX_ALT_TEXT:
        return [(f"{where}.altText", f"Length must be between 0 and {MAX_ALT_TEXT}")]
    return []


def _template_errors(message: dict[str, Any], where: str) -> list[tuple[str, str]]:
    """Template messages; only the confirm template (what madoguchi sends) is checked in depth.

    LINE counts template texts and action labels in grapheme clusters; code points are counted
    here, which is never kinder than LINE (a cluster is one or more code points)."""
    errors = _alt_text_errors(message, where)
    template = message.get("template")
    if not isinstance(template, dict):
        return [*errors, (f"{where}.template", "May not be null")]
    if template.get("type") != "confirm":
        return errors
    text = template.get("text")
    if not isinstance(text, str) or not text:
        errors.append((f"{where}.template.text", "May not be empty"))
    elif len(text) > MAX_CONFIRM_TEXT:
        errors.append((f"{where}.template.text", f"Length must be between 0 and {MAX_CONFIRM_TEXT}"))
    actions = template.get("actions")
    if not isinstance(actions, list) or len(actions) != 2:
        errors.append((f"{where}.template.actions", "Size must be between 2 and 2"))
        return errors
    for j, action in enumerate(actions):
        label = action.get("label") if isinstance(action, dict) else None
        if not isinstance(label, str) or not label:
            errors.append((f"{where}.template.actions[{j}].label", "May not be empty"))
        elif len(label) > MAX_ACTION_LABEL:
            limit = f"Length must be between 0 and {MAX_ACTION_LABEL}"
            errors.append((f"{where}.template.actions[{j}].label", limit))
    return errors


def _flex_errors(message: dict[str, Any], where: str) -> list[tuple[str, str]]:
    errors = _alt_text_errors(message, where)
    contents = message.get("contents")
    if not isinstance(contents, dict) or contents.get("type") not in ("bubble", "carousel"):
        return [
            *errors,
            (f"{where}.contents.type", "Must be one of the following values: [bubble, carousel]"),
        ]
    if contents["type"] == "carousel":
        bubbles = contents.get("contents")
        if not isinstance(bubbles, list) or not 1 <= len(bubbles) <= MAX_CAROUSEL_BUBBLES:
            limit = f"Size must be between 1 and {MAX_CAROUSEL_BUBBLES}"
            errors.append((f"{where}.contents.contents", limit))
    return errors


def _rich_menu_errors(body: dict[str, Any]) -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    size = body.get("size")
    if not isinstance(size, dict):
        errors.append(("size", "May not be null"))
    else:
        width, height = size.get("width"), size.get("height")
        if not isinstance(width, int) or not 800 <= width <= 2500:
            errors.append(("size.width", "Must be between 800 and 2500"))
        if not isinstance(height, int) or height < 250:
            errors.append(("size.height", "Must be 250 or more"))
        elif isinstance(width, int) and width / height < 1.45:
            errors.append(("size", "The aspect ratio (width / height) must be 1.45 or more"))
    if not isinstance(body.get("selected"), bool):
        errors.append(("selected", "May not be null"))
    name = body.get("name")
    if not isinstance(name, str) or not name or len(name) > 300:
        errors.append(("name", "Length must be between 1 and 300"))
    chat_bar = body.get("chatBarText")
    if not isinstance(chat_bar, str) or not chat_bar or len(chat_bar) > 14:
        errors.append(("chatBarText", "Length must be between 1 and 14"))
    areas = body.get("areas")
    if not isinstance(areas, list) or not 1 <= len(areas) <= 20:
        errors.append(("areas", "Size must be between 1 and 20"))
    else:
        for i, area in enumerate(areas):
            for part in ("bounds", "action"):
                if not isinstance(area, dict) or not isinstance(area.get(part), dict):
                    errors.append((f"areas[{i}].{part}", "May not be null"))
    return errors
