"""What staff see at a glance: their cases, unclaimed and overdue ones, upcoming events, monthly figures."""

from __future__ import annotations

import statistics
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo

from flows.business_hours import BusinessCalendar
from storage.cases import Case
from storage.events import Event
from storage.repositories import Repositories

UPCOMING_EVENTS = 10


@dataclass(frozen=True)
class Dashboard:
    mine: list[Case]
    unclaimed: list[Case]
    overdue: list[Case]
    events: list[tuple[Event, int]] = field(default_factory=list)
    # Cases left out of each list because the viewer is not staff of them (shown as counts only).
    hidden_mine: int = 0
    hidden_unclaimed: int = 0
    hidden_overdue: int = 0
    # Whether staff membership could not be checked for some of the hidden cases.
    unchecked: bool = False


@dataclass(frozen=True)
class Stats:
    open_cases: int
    closed_this_month: int
    median_first_answer: timedelta | None


async def dashboard(
    tx: Repositories, actor: str, now: datetime, calendar: BusinessCalendar, mention_after: int
) -> Dashboard:
    unclaimed = await tx.cases.unclaimed()
    overdue = [c for c in unclaimed if calendar.business_minutes_passed(c.created_at, mention_after, now)]
    events = [
        (e, await tx.registrations.seats_taken(e.id)) for e in await tx.events.upcoming(now, UPCOMING_EVENTS)
    ]
    return Dashboard(await tx.cases.assigned_to(actor), unclaimed, overdue, events)


def restrict(board: Dashboard, visible: Collection[int], unchecked: bool = False) -> Dashboard:
    """The board as a viewer may see it: only the cases in `visible` (ids), the others as counts."""

    def keep(cases: list[Case]) -> tuple[list[Case], int]:
        shown = [c for c in cases if c.id in visible]
        return shown, len(cases) - len(shown)

    mine, hidden_mine = keep(board.mine)
    unclaimed, hidden_unclaimed = keep(board.unclaimed)
    overdue, hidden_overdue = keep(board.overdue)
    return Dashboard(
        mine, unclaimed, overdue, board.events, hidden_mine, hidden_unclaimed, hidden_overdue, unchecked
    )


async def stats(tx: Repositories, now: datetime, tz: tzinfo) -> Stats:
    local = now.astimezone(tz)
    month_start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    answered = await tx.cases.answered_since(month_start - timedelta(days=365))
    waits = [(c.first_response_at - c.created_at).total_seconds() for c in answered if c.first_response_at]
    median = timedelta(seconds=statistics.median(waits)) if waits else None
    return Stats(await tx.cases.count_open(), await tx.cases.count_closed_since(month_start), median)
