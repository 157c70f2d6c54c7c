"""`madoguchi line quota` and `madoguchi line richmenu`: talk to the LINE account from the shell."""

from __future__ import annotations

import sys
from datetime import datetime

import aiohttp
from linebot.v3.messaging import ApiException

from bot.clock import utc_now
from bot.config import Settings
from bot.line import richmenu
from bot.line.api import LineApi, error_message
from storage import Database

EXIT_PLATFORM_ERROR = 1


def platform_error(what: str, exc: BaseException, host: str) -> str:
    """What went wrong, in words that tell the two cases apart: LINE answered and refused (with the
    HTTP status and LINE's reason), or LINE could not be reached at all. Both name the host."""
    if isinstance(exc, ApiException):
        return f"LINE refused {what}: HTTP {exc.status} from {host}: {error_message(exc)}"
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, TimeoutError):
        detail = "no answer in time"
    return f"could not reach LINE at {host} for {what}: {type(exc).__name__}: {detail}"


def month_start(now: datetime, settings: Settings) -> datetime:
    """The first moment of the current month in the center's timezone (LINE counts by month in JST)."""
    local = now.astimezone(settings.center.tz)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


async def line_quota(settings: Settings) -> int:
    now = utc_now()
    db = await Database.open(settings.database_path, settings.storage.busy_timeout_ms)
    try:
        pushed = await db.read.outbox.count_delivered("line", "push", month_start(now, settings))
        replied = await db.read.outbox.count_delivered("line", "reply", month_start(now, settings))
    finally:
        await db.close()
    try:
        async with LineApi(settings.line) as api:
            quota = await api.quota()
    except (ApiException, aiohttp.ClientError, TimeoutError) as exc:
        reason = platform_error("the quota request", exc, settings.line.api_base_url)
        print(f"error: {reason}", file=sys.stderr)
        return EXIT_PLATFORM_ERROR
    limit = "unlimited" if quota.limit is None else f"{quota.limit:,}"
    print(f"LINE monthly message quota: {limit}")
    print(f"LINE consumption this month: {quota.used:,}")
    if quota.limit is not None:
        print(f"Remaining: {max(0, quota.limit - quota.used):,}")
    print(
        f"Sent by this bot this month: {pushed:,} push request(s) (counted), {replied:,} reply request(s) (free)"
    )
    return 0


async def line_richmenu(settings: Settings) -> int:
    try:
        async with LineApi(settings.line) as api:
            menu_id = await richmenu.install(api, settings.center.phone)
    except (ApiException, aiohttp.ClientError, TimeoutError) as exc:
        reason = platform_error("the rich menu", exc, settings.line.api_base_url)
        print(f"error: {reason}", file=sys.stderr)
        return EXIT_PLATFORM_ERROR
    print(f"rich menu {menu_id} installed as the default")
    return 0
