"""Who is staff of a case: the configured `[slack] staff` list, or else the members of the case's channel.

Personal data (names, contact details, consultation texts) goes only to staff of that case. The channel's
members are looked up with conversations.members (every page, following the cursor) and kept for a short
while, since a look-up runs inside the 3 s Slack gives us and one screen may ask about many cases;
concurrent look-ups of one channel share a single call. A failed look-up is not "not staff": it is
UNKNOWN, logged without personal data, and answered as "could not be checked".
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock
from bot.logs import fields
from bot.slack.tell import failure_kind
from flows.texts import Texts

log = logging.getLogger("madoguchi.slack")

# How long a channel's member list is trusted. Someone removed from a case channel stops seeing its
# cases at most this long after.
MEMBERSHIP_TTL = timedelta(seconds=30)
PAGE_SIZE = 1000  # the most conversations.members returns in one page
MAX_PAGES = 100  # a channel beyond 100,000 members (or a cursor that never ends) is not a staff channel


class Verdict(enum.Enum):
    STAFF = "staff"
    NOT_STAFF = "not_staff"
    UNKNOWN = "unknown"  # Slack could not tell us: neither show nor refuse as if we knew


def refusal_text(verdict: Verdict, texts: Texts, **where: str) -> str | None:
    """What to tell someone who may not act (None for staff). A membership look-up that failed is said
    as such, never as "you are not staff"; `where` names the surface or case in the log."""
    if verdict is Verdict.STAFF:
        return None
    if verdict is Verdict.UNKNOWN:
        log.warning("slack.staff_unknown", extra=fields(**where))
        return texts.get("staff.check_failed")
    return texts.get("staff.not_staff")


class StaffCheck:
    def __init__(
        self,
        client: AsyncWebClient,
        staff: Iterable[str],
        clock: Clock,
        ttl: timedelta = MEMBERSHIP_TTL,
    ) -> None:
        self._client = client
        self._staff = frozenset(staff)
        self._clock = clock
        self._ttl = ttl
        self._cache: dict[str, tuple[datetime, frozenset[str]]] = {}
        self._pending: dict[str, asyncio.Future[frozenset[str] | None]] = {}

    @property
    def by_list(self) -> bool:
        """Staff are a configured list (the same for every case), not channel members."""
        return bool(self._staff)

    async def verdict(self, user: str, channel: str | None) -> Verdict:
        """Is `user` staff of a case in `channel`?"""
        if self._staff:
            return Verdict.STAFF if user in self._staff else Verdict.NOT_STAFF
        if not channel:
            return Verdict.NOT_STAFF
        members = await self.members(channel)
        if members is None:
            return Verdict.UNKNOWN
        return Verdict.STAFF if user in members else Verdict.NOT_STAFF

    async def refusal(self, user: str, channel: str | None, texts: Texts, surface: str) -> str | None:
        """None when `user` is staff for `channel`; otherwise what to tell them (see `refusal_text`)."""
        return refusal_text(await self.verdict(user, channel), texts, surface=surface)

    async def verdicts(self, user: str, channels: Iterable[str]) -> dict[str, Verdict]:
        """The verdict for each of several channels, looked up side by side."""
        unique = sorted(set(channels))
        found = await asyncio.gather(*(self.verdict(user, c) for c in unique))
        return dict(zip(unique, found, strict=True))

    async def members(self, channel: str) -> frozenset[str] | None:
        """The channel's members (cached for the TTL), or None when Slack could not tell."""
        cached = self._cache.get(channel)
        if cached is not None and self._clock() < cached[0]:
            return cached[1]
        pending = self._pending.get(channel)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[frozenset[str] | None] = asyncio.get_running_loop().create_future()
        self._pending[channel] = future
        members: frozenset[str] | None = None
        try:
            members = await self._fetch(channel)
            if members is not None:
                self._cache[channel] = (self._clock() + self._ttl, members)
        finally:
            del self._pending[channel]
            future.set_result(members)
        return members

    async def _fetch(self, channel: str) -> frozenset[str] | None:
        found: set[str] = set()
        cursor: str | None = None
        try:
            for _ in range(MAX_PAGES):
                page = await self._client.conversations_members(
                    channel=channel, limit=PAGE_SIZE, cursor=cursor
                )
                found.update(str(m) for m in page.get("members") or [])
                cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "")
                if not cursor:
                    return frozenset(found)
            log.warning("slack.staff_check_failed", extra=fields(channel=channel, error="too_many_pages"))
            return None
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("slack.staff_check_failed", extra=fields(channel=channel, error=failure_kind(exc)))
            return None
