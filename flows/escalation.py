"""Cases nobody has claimed: a mention in the thread after a while, an escalation later (each once);
and cases whose promised answer date passed with no answer sent to the citizen (once).

Time is counted in business minutes, so a case received on Friday evening is not "late" on Monday
morning, nor on a public holiday. The answer date was computed from the business calendar when the
case was received (`cases.answer_due_at`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from flows.business_hours import BusinessCalendar
from storage.cases import Case
from storage.repositories import Repositories


@dataclass(frozen=True)
class Overdue:
    case: Case
    level: Literal["mention", "escalate", "past_due"]


async def overdue_cases(
    tx: Repositories, now: datetime, calendar: BusinessCalendar, mention_after: int, escalate_after: int
) -> list[Overdue]:
    """Unclaimed cases past a threshold, marked so each step happens once."""
    found: list[Overdue] = []
    for case in await tx.cases.unclaimed():
        # Inside the single writer's transaction: the marks cannot race another sweep.
        if case.escalated_at is None and calendar.business_minutes_passed(
            case.created_at, escalate_after, now
        ):
            await tx.cases.mark_escalated(case.id, now)
            await tx.cases.mark_reminded(case.id, now)
            found.append(Overdue(case, "escalate"))
        elif case.reminded_at is None and calendar.business_minutes_passed(
            case.created_at, mention_after, now
        ):
            await tx.cases.mark_reminded(case.id, now)
            found.append(Overdue(case, "mention"))
    # Claimed or not: what was promised to the citizen is what counts.
    for case in await tx.cases.unanswered_past_due(now):
        if await tx.cases.mark_overdue_notified(case.id, now):
            found.append(Overdue(case, "past_due"))
    return found
