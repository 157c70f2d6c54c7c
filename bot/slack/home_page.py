"""App Home: drawn for one person, audited, published; and published again after a deletion.

Anyone in the workspace can open App Home: cases show in full only where the viewer is staff of the
case; the rest are counts. Slack keeps a published Home as it was until it is published again, so a
case whose personal data is deleted is taken off the Home of everyone it was shown to (the audit log
says who: `case.viewed`, surface `app_home`), instead of waiting for them to open it again: one
refresh per viewer, however many cases are erased at once (`queue_refresh`). A Home drawn while a
deletion commits is checked after it is published, and drawn again.
"""

from __future__ import annotations

import logging
from datetime import datetime

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock
from bot.config import Settings
from bot.logs import fields
from bot.slack import home
from bot.slack.staff_check import StaffCheck, Verdict
from bot.slack.tell import CALL_FAILED, failure_kind
from flows.dashboard import Dashboard, dashboard, restrict
from flows.texts import Texts
from storage import Database
from storage.cases import Case
from storage.outbox_rows import HomeRefresh
from storage.repositories import Repositories

log = logging.getLogger("madoguchi.slack")

SURFACE = "app_home"
ACTOR_PREFIX = "slack:"
MAX_DRAWS = 3  # publishes of one Home in a row while the cases it shows are being erased


class HomePage:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        client: AsyncWebClient,
        texts: Texts,
        clock: Clock,
        staff: StaffCheck,
    ) -> None:
        self._settings = settings
        self._db = db
        self._client = client
        self._texts = texts
        self._clock = clock
        self._staff = staff

    async def publish(self, user: str, dedupe: str | None = None) -> bool:
        """Draw `user`'s Home, audit the cases it shows, publish it. False when `dedupe` (a Slack
        event's id) was handled before: the same opening, audited and shown once. A Home that cannot
        be published is logged: App Home has nowhere to say so."""
        return await self._publish(user, dedupe, strict=False)

    async def refresh(self, user: str) -> None:
        """Publish `user`'s Home again (after a deletion). A failure Slack may get over (429, 5xx, a
        timeout) is raised, so that the outbox tries this viewer again; one that stays (the person
        left the workspace) is logged and skipped."""
        await self._publish(user, None, strict=True)

    async def _publish(self, user: str, dedupe: str | None, *, strict: bool) -> bool:
        board, shown = await self._draw(user)
        if not await self.audit_read(user, shown, SURFACE, dedupe):
            log.info("slack.duplicate", extra=fields(surface=SURFACE))
            return False
        for drawn in range(1, MAX_DRAWS + 1):
            view = home.home_view(board, self._settings, self._texts, self._settings.center.tz)
            try:
                await self._client.views_publish(user_id=user, view=view)
            except CALL_FAILED as exc:
                error = failure_kind(exc)
                log.warning("slack.home_publish_failed", extra=fields(error=error))
                if strict and _passing(exc):
                    raise
                return True
            # A deletion that committed after the draw, before this viewer's audit entry, found no
            # one to refresh: this Home is the only one that knows it showed the case.
            if not await self._erased_since(shown):
                return True
            if drawn == MAX_DRAWS:
                log.warning("slack.home_erased_again", extra=fields(draws=drawn))
                return True
            board, shown = await self._draw(user)
            await self.audit_read(user, shown, SURFACE)
        return True

    async def _draw(self, user: str) -> tuple[Dashboard, list[Case]]:
        """`user`'s Home as it is now, restricted to what they may see; and the cases it shows."""
        hours = self._settings.business_hours
        board = await dashboard(
            self._db.read, user, self._clock(), self._settings.calendar, hours.unclaimed_mention_minutes
        )
        visible, unchecked = await self.visible(user, [*board.mine, *board.unclaimed, *board.overdue])
        board = restrict(board, visible, unchecked)
        shown = [
            *board.mine[: home.HOME_CASES],
            *board.unclaimed[: home.HOME_CASES],
            *board.overdue[: home.HOME_CASES],
        ]
        return board, shown

    async def _erased_since(self, shown: list[Case]) -> bool:
        """Whether a case shown with its personal data has had it deleted since it was read."""
        for case in shown:
            if case.anonymised_at is None:
                current = await self._db.read.cases.get(case.id)
                if current is None or current.anonymised_at is not None:
                    return True
        return False

    async def audit_read(
        self, actor: str, cases: list[Case], surface: str, dedupe: str | None = None
    ) -> bool:
        """Staff are about to see these cases' personal data: one audit entry per case (who, where),
        recorded before it is shown. Never the data itself. With `dedupe` (a Slack event's id), False
        when that event was handled before: nothing is recorded, and nothing must be shown."""
        seen = {c.id: c for c in cases}
        if not seen and dedupe is None:
            return True
        now = self._clock()
        async with self._db.transaction() as tx:
            if dedupe is not None and not await tx.inbox.record_handled(
                "slack", dedupe, f"slack:{actor}", now
            ):
                return False
            for case_id in seen:
                # Read in the transaction a deletion's is serialised with: a case erased before
                # this is not recorded as viewed (the caller finds it erased and draws again).
                current = await tx.cases.get(case_id)
                if current is None or current.anonymised_at is not None:
                    continue
                await tx.audit.record(
                    f"{ACTOR_PREFIX}{actor}", "case.viewed", "case", case_id, now, {"surface": surface}
                )
        return True

    async def visible(self, actor: str, cases: list[Case]) -> tuple[set[int], bool]:
        """The ids of the cases `actor` may see in full, and whether any look-up failed."""
        verdicts = await self._staff.verdicts(actor, (self.channel_of(c) for c in cases))
        visible = {c.id for c in cases if verdicts[self.channel_of(c)] is Verdict.STAFF}
        unchecked = any(v is Verdict.UNKNOWN for v in verdicts.values())
        if unchecked:
            log.warning("slack.staff_unknown", extra=fields(cases=len(cases) - len(visible)))
        return visible, unchecked

    def channel_of(self, case: Case) -> str:
        return case.slack_channel or self._settings.channel_for(case.category)


async def queue_refresh(tx: Repositories, case_id: int, now: datetime) -> None:
    """In the transaction that deletes a case's personal data: a `HomeRefresh` for each staff
    member it was shown to on App Home. Coalesced: a viewer gets a new row only when none waits
    behind the one that may be in flight (rows of one key go in order, so only the first can be);
    the waiting row is drawn when sent, so it covers this case too."""
    for actor in await tx.audit.actors("case.viewed", "case", case_id, SURFACE):
        if not actor.startswith(ACTOR_PREFIX):
            continue
        user = actor.removeprefix(ACTOR_PREFIX)
        order_key = refresh_key(user)
        if await tx.outbox.count_pending(order_key) < 2:
            await tx.outbox.add(HomeRefresh(user=user), user, now, order_key=order_key)


def refresh_key(user: str) -> str:
    """The order key of a viewer's Home refreshes."""
    return f"slack:home:{user}"


def _passing(exc: BaseException) -> bool:
    """A failure that another try may get over: rate limited, Slack's 5xx, the network."""
    if not isinstance(exc, SlackApiError):
        return True  # a timeout or a dropped connection
    status: int = exc.response.status_code
    return status == 429 or status >= 500
