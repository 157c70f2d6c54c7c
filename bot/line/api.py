"""The LINE Messaging API through the official async SDK, with answers turned into Outcomes."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp
from aiohttp.helpers import get_env_proxy_for_url
from linebot.v3.messaging import (
    ApiException,
    AsyncApiClient,
    AsyncMessagingApi,
    AsyncMessagingApiBlob,
    Configuration,
)
from linebot.v3.messaging.async_rest import RESTResponse
from yarl import URL

from bot.config import ConfigError, LineSettings
from bot.delivery import Delivered, Final, Outcome, Retry
from bot.logs import fields
from bot.text_input import storable

log = logging.getLogger("madoguchi.line.api")

MONTHLY_LIMIT_MARKER = "monthly limit"
# LINE takes at most this many recipients in one multicast request.
MULTICAST_MAX_RECIPIENTS = 500
REQUEST_TIMEOUT_SECONDS = 10.0
REPLY_PATH = "/v2/bot/message/reply"
PUSH_PATH = "/v2/bot/message/push"
MULTICAST_PATH = "/v2/bot/message/multicast"


# Told of every API call: (the endpoint's path template, seconds).
Observe = Callable[[str, float], None]


@dataclass(frozen=True)
class Quota:
    kind: str
    limit: int | None
    used: int


# What a log line, an ops alert (posted to Slack), outbox.last_error or a command's error may repeat of
# an error body: LINE's own fixed English texts, whose variable parts are numbers and property names.
# Anything else is withheld, because a body need not be LINE's: a proxy or WAF in front of LINE (an
# office's HTTPS_PROXY) may answer with the request it refused, the citizen's words in it. A shape
# rule ("short and ASCII") would still pass a name or a phone number written in ASCII.
_NUMBER = r"-?\d{1,6}(?:\.\d{1,3})?"
_PROPERTY = r"[A-Za-z0-9_.\[\]]{1,100}"
_LINE_MESSAGE = re.compile(
    "|".join(
        [
            rf"The request body has {_NUMBER} error\(s\)",
            r"Invalid reply token",
            r"You have reached your monthly limit\.?",
            rf"The property, '?{_PROPERTY}'?, in the request body is invalid"
            rf" \(line: (?:{_NUMBER}|-), column: (?:{_NUMBER}|-)\)",
            rf"The request body could not be parsed as JSON \(line: (?:{_NUMBER}|-), column: (?:{_NUMBER}|-)\)",
            r"The request body is not a valid JSON object",
            r"The content type, '?[A-Za-z0-9./+-]{1,80}'?, is not supported",
            r"Authentication failed[A-Za-z .,:'-]{0,200}",  # "... due to the following reason: ..."
            r"Access to this API is not available for your account",
            r"Failed to send messages",
            r"Not found|Too many requests|Internal server error|Request entity too large|Service unavailable",
            r"The retry key is (?:already accepted|not supported for this request)",
            r"The value for the 'X-Line-Retry-Key' header is invalid",
            r"Content-Type must be [a-z/ ]{1,60}",
            rf"The image must be between {_NUMBER} bytes? and {_NUMBER} [KMG]?B",
            r"An image has already been uploaded to the richmenu",
            r"must upload richmenu image before applying it to user",
            r"no default richmenu",
        ]
    ),
    re.IGNORECASE,
)
# A detail's message: a constraint on the property it names ("May not be empty", "Length must be
# between 0 and 5000", "Must be one of the following values: [text, image]").
_LINE_DETAIL = re.compile(
    rf"May not be (?:empty|null)|Must be specified"
    rf"|(?:Size |Length )?must be between {_NUMBER} and {_NUMBER}"
    rf"|Must be {_NUMBER} or (?:more|less)"
    rf"|Must be a multiple of {_NUMBER} between {_NUMBER} and {_NUMBER}"
    rf"|Must be one of the following values: \[[A-Za-z0-9_, ]{{1,300}}\]"
    rf"|The aspect ratio \(width / height\) must be {_NUMBER} or (?:more|less)"
    rf"|Invalid [A-Za-z ]{{1,40}}",
    re.IGNORECASE,
)
_PROPERTY_NAME = re.compile(_PROPERTY)
# At most this many of a body's details are named (a body can list one per message field).
MAX_DETAILS = 3


def _error_body(exc: ApiException) -> dict[str, Any]:
    try:
        body = json.loads(exc.body or "{}")
    except (ValueError, RecursionError):
        return {}
    return body if isinstance(body, dict) else {}  # an error page's JSON need not be LINE's shape


def _known(pattern: re.Pattern[str], value: object) -> str | None:
    return value if isinstance(value, str) and value.isascii() and pattern.fullmatch(value) else None


def error_message(exc: ApiException) -> str:
    """LINE's own explanation from an error body, e.g. "Invalid reply token", with the properties its
    details name: only LINE's fixed texts (above), never anything else the body says."""
    body = _error_body(exc)
    if "message" not in body:
        return f"HTTP {exc.status}"
    message = _known(_LINE_MESSAGE, body["message"]) or "unrecognised error text withheld"
    details = body.get("details")
    named: list[str] = []
    for detail in details[:MAX_DETAILS] if isinstance(details, list) else []:
        if not isinstance(detail, dict):
            continue
        prop = _known(_PROPERTY_NAME, detail.get("property")) or "?"
        said = _known(_LINE_DETAIL, detail.get("message")) or "withheld"
        named.append(f"{prop}: {said}")
    return f"{message} ({'; '.join(named)})" if named else message


def is_monthly_limit(exc: ApiException) -> bool:
    message = _error_body(exc).get("message")
    return exc.status == 429 and isinstance(message, str) and MONTHLY_LIMIT_MARKER in message.lower()


def classify(exc: BaseException) -> Outcome:
    """A failed call as an Outcome: what to retry, what is final, what was in fact accepted."""
    if isinstance(exc, ApiException):
        status = exc.status or 0
        if status == 409:
            return Delivered("push")  # the retry key was accepted before: the message is out
        if is_monthly_limit(exc):
            return Final("monthly_limit: " + error_message(exc))
        if status == 429 or status >= 500:
            return Retry(f"HTTP {status}: {error_message(exc)}")
        return Final(f"HTTP {status}: {error_message(exc)}")
    if isinstance(exc, aiohttp.ClientError | asyncio.TimeoutError | TimeoutError):
        return Retry(f"{type(exc).__name__}")
    raise exc


def environment_proxy(url: str) -> tuple[URL | None, aiohttp.BasicAuth | None]:
    """The proxy the environment names for `url`, and its credentials, as aiohttp's `trust_env`
    finds them (`HTTPS_PROXY` or `HTTP_PROXY` by the scheme, `NO_PROXY`, credentials from the URL or
    `~/.netrc`, an `https://` proxy ignored): (None, None) when there is none. A value that is no
    http:// proxy URL is a ConfigError at start (its text is not repeated: it may hold a password)."""
    variable = f"{URL(url).scheme.upper()}_PROXY"
    try:
        proxy, credentials = get_env_proxy_for_url(URL(url))
    except LookupError:
        return None, None
    except ValueError:
        raise ConfigError(f"{variable} is not a URL; write it as http://host:port") from None
    if proxy.scheme != "http" or not proxy.host:
        raise ConfigError(f"{variable} is not an http:// proxy URL; write it as http://host:port")
    return proxy, credentials


class ProfileUnavailable(Exception):
    """LINE did not answer a profile request (not: it has no name to give)."""


class _TimedClient(AsyncApiClient):  # type: ignore[misc]
    """The SDK's client, timing every call by its path template (`/v2/bot/profile/{userId}`: the
    template, never the user id) for /metrics.

    Its HTTP session does not read the environment on each request: the SDK's does (aiohttp's
    `trust_env`), looking up the proxy and `~/.netrc` on a worker thread for every call, two thread
    hand-offs per reply (docs/performance.md). The same look-up is done once here instead, and
    the session uses what it found for every request (its credentials kept out of the proxy's URL,
    so never in an error's text)."""

    def __init__(self, configuration: Configuration, observe: Observe | None) -> None:
        super().__init__(configuration)
        self._observe = observe

    async def open(self, proxy: URL | None, credentials: aiohttp.BasicAuth | None) -> None:
        """Swap the SDK's session for one that leaves the environment alone (in the running loop)."""
        rest = self.rest_client
        await rest.pool_manager.close()  # new, never used: nothing to wait for
        rest.pool_manager = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.configuration.connection_pool_maxsize),
            trust_env=False,
            proxy=proxy,
            # Deprecated for aiohttp 4 (pinned to 3.x here), and the only way its requests to a
            # plain-http host carry a proxy's credentials; None for a proxy without them.
            proxy_auth=credentials,
        )

    def call_api(self, resource_path: str, method: str, *args: Any, **kwargs: Any) -> Any:
        call = super().call_api(resource_path, method, *args, **kwargs)
        if self._observe is None or kwargs.get("async_req"):
            return call
        return self._timed(call, resource_path, self._observe)

    @staticmethod
    async def _timed(call: Awaitable[Any], resource_path: str, observe: Observe) -> Any:
        started = time.perf_counter()
        try:
            return await call
        finally:
            observe(resource_path, time.perf_counter() - started)


class LineApi:
    """One SDK client per process, created inside the running loop and closed at shutdown."""

    def __init__(self, settings: LineSettings, observe: Observe | None = None) -> None:
        self._settings = settings
        self._observe = observe
        self._client: AsyncApiClient | None = None
        self._blob_client: AsyncApiClient | None = None
        self.messaging: AsyncMessagingApi
        self.blob: AsyncMessagingApiBlob

    async def __aenter__(self) -> LineApi:
        token = self._settings.channel_access_token
        # First, so that a proxy setting refused leaves nothing open behind it.
        proxies = [
            environment_proxy(self._settings.api_base_url),
            environment_proxy(self._settings.data_api_base_url),
        ]
        self._client = _TimedClient(
            Configuration(host=self._settings.api_base_url, access_token=token), self._observe
        )
        self._blob_client = _TimedClient(
            Configuration(host=self._settings.data_api_base_url, access_token=token), self._observe
        )
        for client, (proxy, credentials) in zip((self._client, self._blob_client), proxies, strict=True):
            await client.open(proxy, credentials)
        self.messaging = AsyncMessagingApi(self._client)
        self.blob = AsyncMessagingApiBlob(self._blob_client)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for client in (self._client, self._blob_client):
            if client is not None:
                await client.close()

    async def reply(self, reply_token: str, messages: list[dict[str, Any]]) -> None:
        await self._send(
            REPLY_PATH, {"replyToken": reply_token, "messages": messages, "notificationDisabled": False}
        )

    async def push(self, to: str, messages: list[dict[str, Any]], retry_key: str) -> list[str]:
        """Returns the ids LINE gave the messages sent (a ward's copy of a notice records its own)."""
        body = {"to": to, "messages": messages, "notificationDisabled": False}
        answer = await self._send(PUSH_PATH, body, retry_key)
        try:
            sent = json.loads(answer).get("sentMessages") or []
            return [str(message["id"]) for message in sent]
        except (ValueError, AttributeError, KeyError, TypeError, RecursionError):
            return []  # sent all the same: only the ids are missing

    async def multicast(self, to: list[str], messages: list[dict[str, Any]], retry_key: str) -> None:
        """The same messages to up to 500 users in one request; the retry key makes a retry safe."""
        if not 1 <= len(to) <= MULTICAST_MAX_RECIPIENTS:
            raise ValueError(f"a multicast takes 1 to {MULTICAST_MAX_RECIPIENTS} recipients, not {len(to)}")
        body = {"messages": messages, "to": to, "notificationDisabled": False}
        await self._send(MULTICAST_PATH, body, retry_key)

    async def _send(self, path: str, body: dict[str, Any], retry_key: str | None = None) -> bytes:
        """POST to one of the endpoints that send messages, as the SDK's `reply_message`,
        `push_message` and `multicast` do: its client's session, headers and proxy, the same JSON
        bytes (tests/line/test_sdk_requests.py), the SDK's ApiException for an error answer. Without
        the SDK's layers around each call: validating the arguments into a model, walking every
        message again to serialise it, building a response model (about 60 % of a reply's CPU, and
        the largest part of an event's once its messages are rendered; docs/performance.md).

        `body` holds the messages as the SDK's own models rendered them when they were queued
        (bot/line/render.py), in the order of the SDK's request fields and with their defaults."""
        client = self._client
        assert client is not None, "use LineApi inside `async with`"
        rest = client.rest_client
        headers = {
            **client.default_headers,
            "Accept": "application/json",
            "Content-Type": "application/json",
            "Authorization": f"Bearer {self._settings.channel_access_token}",
        }
        if retry_key is not None:
            headers["X-Line-Retry-Key"] = retry_key
        started = time.perf_counter()
        try:
            async with rest.pool_manager.post(
                client.configuration.host + path,
                data=json.dumps(body),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS),
            ) as response:
                data: bytes = await response.read()
                if not 200 <= response.status <= 299:
                    raise ApiException(http_resp=RESTResponse(response, data))
                return data
        finally:
            if self._observe is not None:
                self._observe(path, time.perf_counter() - started)

    async def display_name(self, user_id: str) -> str | None:
        """The user's LINE display name, or None when LINE says there is none to give (404: blocked,
        or no longer a friend). Raises `ProfileUnavailable` when LINE could not answer (an outage,
        the rate limit, a timeout): that says nothing about the name."""
        try:
            profile = await self.messaging.get_profile(user_id, _request_timeout=REQUEST_TIMEOUT_SECONDS)
        except ApiException as exc:
            log.warning("line.profile_unavailable", extra=fields(error=type(exc).__name__, status=exc.status))
            if exc.status == 404:
                return None
            raise ProfileUnavailable from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("line.profile_unavailable", extra=fields(error=type(exc).__name__))
            raise ProfileUnavailable from None
        # LINE's JSON may hold half an emoji: kept as it is, SQLite would refuse every save of it.
        return storable(str(profile.display_name))

    async def quota(self) -> Quota:
        quota = await self.messaging.get_message_quota(_request_timeout=REQUEST_TIMEOUT_SECONDS)
        used = await self.messaging.get_message_quota_consumption(_request_timeout=REQUEST_TIMEOUT_SECONDS)
        limit = quota.value if quota.type == "limited" else None
        return Quota(kind=str(quota.type), limit=limit, used=int(used.total_usage))
