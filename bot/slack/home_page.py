"""App Home: drawn for one person, audited, published; and published again after a deletion.

Anyone in the workspace can open App Home: cases show in full only where the viewer is staff of the
case; the rest are counts. Slack keeps a published Home as it was until it is published again, so a
case whose personal data is deleted is taken off the Home of everyone it was shown to (the audit log
says who: `case.viewed`, surface `app_home`), instead of waiting for them to open it again.
"""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock
from bot.config import Settings
from bot.logs import fields
from bot.slack import home
from bot.slack.staff_check import StaffCheck, Verdict
from bot.slack.tell import CALL_FAILED, failure_kind
from flows.dashboard import dashboard, restrict
from flows.texts import Texts
from storage import Database
from storage.cases import Case

log = logging.getLogger("madoguchi.slack")

SURFACE = "app_home"
ACTOR_PREFIX = "slack:"


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

    async def refresh_viewers(self, case_id: int) -> int:
        """Publish again the Home of everyone who was shown this case there; how many. A failure
        Slack may get over (429, 5xx, a timeout) is raised, so that the outbox tries again; one that
        stays (the person left the workspace) is logged and skipped."""
        entries = await self._db.read.audit.for_subject("case", case_id)
        viewers = {
            e.actor.removeprefix(ACTOR_PREFIX): None
            for e in entries
            if e.action == "case.viewed"
            and e.detail.get("surface") == SURFACE
            and e.actor.startswith(ACTOR_PREFIX)
        }
        for user in viewers:
            await self._publish(user, None, strict=True)
        return len(viewers)

    async def _publish(self, user: str, dedupe: str | None, *, strict: bool) -> bool:
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
        if not await self.audit_read(user, shown, SURFACE, dedupe):
            log.info("slack.duplicate", extra=fields(surface=SURFACE))
            return False
        view = home.home_view(board, self._settings, self._texts, self._settings.center.tz)
        try:
            await self._client.views_publish(user_id=user, view=view)
        except CALL_FAILED as exc:
            error = failure_kind(exc)
            log.warning("slack.home_publish_failed", extra=fields(error=error))
            if strict and _passing(exc):
                raise
        return True

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


def _passing(exc: BaseException) -> bool:
    """A failure that another try may get over: rate limited, Slack's 5xx, the network."""
    if not isinstance(exc, SlackApiError):
        return True  # a timeout or a dropped connection
    status: int = exc.response.status_code
    return status == 429 or status >= 500
