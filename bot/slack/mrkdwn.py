"""Text crossing the Slack boundary, both ways.

Slack treats `&`, `<` and `>` as control characters in message text and in `mrkdwn` text objects:
`<!channel>` pings a whole channel, `<@U…>` a person, `<https://…|label>` shows a link under any
label. So everything a citizen wrote is passed through `escape` before it goes into a Slack message
or a `mrkdwn` object (Slack's rule: `&` → `&amp;`, `<` → `&lt;`, `>` → `&gt;`; styling below).
`plain_text` objects (headers, buttons, the reply preview) are shown literally and parse no mentions
or links, so they take the text as it is; escaping them would show `&amp;` to staff.

Slack has no escape for its styling characters (`*bold*`, `_italic_`, `~strike~`, `` `code` ``), so
a title like `*第3回*会議` inside our own `*{title}*` would end the bold early, or a name could open
a style that our text closes. `escape` shows each of them as its full-width look-alike (`＊＿～｀`),
which Slack does not parse, except between two ASCII letters or digits, where Slack styles nothing
(`taro_yamada@example.org`, `channel_not_found` stay as they are). A web address is kept exactly as
written and made a link showing its address (`<https://…>`, as Slack does with a typed address), so
`/_layouts/`, `~user` and `a_b=1` in it still work.

The other way, what staff type in Slack arrives escaped, with links and mentions as markup
(`A&amp;B <https://example.org|site> <@U123>`). `to_plain` turns it into what a citizen can read on
LINE: `A&B site (https://example.org) @Hanako`. Values typed into a modal's `plain_text_input` come
back raw and need neither.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.text_input import storable

# Everything between < and > in text that came from Slack is markup: a literal < arrives as &lt;.
_MARKUP = re.compile(r"<([^<>]*)>")
_ENTITY = re.compile(r"&[a-z]*;?$")
# A web address as Slack recognises one when it is typed (bot/sandbox/slack_signing.py `typed`).
_URL = re.compile(r"https?://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
_STYLE = str.maketrans("*_~`", "＊＿～｀")
# A styling character unless it stands between two ASCII letters or digits.
_STYLING = re.compile(r"(?<![A-Za-z0-9])[*_~`]|[*_~`](?![A-Za-z0-9])")

NameOf = Callable[[str], Awaitable[str | None]]


def escape(text: str) -> str:
    """Text as Slack shows it literally in a message or a `mrkdwn` object: no pings, no disguised
    links, no styling that reaches beyond it. Web addresses become links that show their address."""
    pieces: list[str] = []
    last = 0
    for match in _URL.finditer(text):
        url = _trimmed(match.group(0))
        pieces.append(_literal(text[last : match.start()]))
        pieces.append(f"<{_entities(url)}>")
        last = match.start() + len(url)
    pieces.append(_literal(text[last:]))
    return "".join(pieces)


def _trimmed(url: str) -> str:
    """The address without what closes the sentence around it: `(https://a.example/x)` or `…/x.`
    keep their `)` and `.` as text, as Slack does with a typed address; `(…)` inside it stays."""
    while url and (url[-1] in ".,;:!?'*" or (url[-1] == ")" and url.count(")") > url.count("("))):
        url = url[:-1]
    return url


def _entities(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _literal(text: str) -> str:
    unstyled = _STYLING.sub(lambda m: m.group(0).translate(_STYLE), text)
    return _entities(unstyled)


def escape_cut(text: str, limit: int) -> str:
    """`escape(text)` within `limit` characters (Block Kit counts the escaped text), never cutting
    an entity or a link in half; `…` marks a cut."""
    escaped = escape(text)
    if len(escaped) <= limit:
        return escaped
    head = escaped[: limit - 1]
    opened = head.rfind("<")
    if opened > head.rfind(">"):  # only links have < and > once escaped
        head = head[:opened]
    return _ENTITY.sub("", head) + "…"


def _decode(text: str) -> str:
    # &amp; last, so that an escaped "&lt;" (sent as "&amp;lt;") stays "&lt;".
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


async def to_plain(text: str, client: AsyncWebClient | None = None) -> str:
    """Slack message text as plain text for a citizen: links readable with their address, mentions
    as names (looked up with users.info when a client is given; else `@U…`), entities decoded."""
    names: dict[str, str | None] = {}

    async def name_of(user_id: str) -> str | None:
        if client is None:
            return None
        if user_id not in names:
            names[user_id] = await _user_name(client, user_id)
        return names[user_id]

    pieces: list[str] = []
    last = 0
    for match in _MARKUP.finditer(text):
        pieces.append(_decode(text[last : match.start()]))
        pieces.append(await _readable(match.group(1), name_of))
        last = match.end()
    pieces.append(_decode(text[last:]))
    return "".join(pieces)


def unescape(text: str) -> str:
    """`to_plain` without looking anyone up (mentions stay as `@U…`)."""
    pieces: list[str] = []
    last = 0
    for match in _MARKUP.finditer(text):
        pieces.append(_decode(text[last : match.start()]))
        pieces.append(_readable_now(match.group(1)))
        last = match.end()
    pieces.append(_decode(text[last:]))
    return "".join(pieces)


async def _readable(inner: str, name_of: NameOf) -> str:
    target, _, label = inner.partition("|")
    if target.startswith("@") and not label:
        name = await name_of(target[1:])
        if name:
            return "@" + name
    return _readable_now(inner)


def _readable_now(inner: str) -> str:
    """One piece of markup (what was between < and >) as text."""
    target, _, label = inner.partition("|")
    target, label = _decode(target), _decode(label)
    if target.startswith("@"):  # a person: <@U123> or <@U123|name>
        return "@" + (label or target[1:])
    if target.startswith("#"):  # a channel: <#C123|general>
        return "#" + (label or target[1:])
    if target.startswith("!"):  # <!here>, <!channel>, <!subteam^S1|@team>, <!date^…|fallback>
        if label:
            return label
        word = target[1:].split("^", 1)[0]
        return "@" + word
    # A link: <https://x>, <https://x|label>, <mailto:a@b|a@b>, <tel:…|…>
    address = target.removeprefix("mailto:") if target.startswith("mailto:") else target
    if not label or label in (target, address) or address.endswith("//" + label):
        return address
    return f"{label} ({address})"


async def _user_name(client: AsyncWebClient, user_id: str) -> str | None:
    try:
        response = await client.users_info(user=user_id)
    except (SlackApiError, TimeoutError, OSError, aiohttp.ClientError):
        return None
    user = response.get("user")
    if not isinstance(user, dict):
        return None
    profile = user.get("profile")
    if not isinstance(profile, dict):
        profile = {}
    for candidate in (profile.get("display_name"), profile.get("real_name"), user.get("real_name")):
        if isinstance(candidate, str) and candidate.strip():
            return storable(candidate.strip())
    return None
