"""Personal data leaving: the privacy notice's wording, deletion on request (削除), and the anonymising
of a case that deletion and retention share.

What goes and what stays is decided here; storage does the clearing. A deleted case keeps its number,
category, requester type, contact method, dates, assignee and status (closed), for statistics.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flows import events
from flows.context import DeskContext, Reply, StaffEvent
from flows.messages import Outgoing
from flows.texts import Texts
from storage.cases import AnonymisedReason, Case
from storage.repositories import Repositories
from storage.users import User

# Who the audit log names for an anonymising nobody on the staff side did.
ACTORS: dict[AnonymisedReason, str] = {"request": "citizen", "retention": "system:retention"}


def retention_text(days: int, texts: Texts) -> str:
    """The retention period as a citizen reads it: 3年 for 1095 days, else the days."""
    if days % 365 == 0:
        return texts.get("privacy.years", years=days // 365)
    return texts.get("privacy.days", days=days)


def notice(texts: Texts, center: str, retention_days: int) -> str:
    """The essentials of the privacy notice: operators, purpose, sharing, Slack, retention, deletion."""
    return texts.get("privacy.notice", center=center, retention=retention_text(retention_days, texts))


def policy_line(texts: Texts, url: str) -> str:
    """The link to the full policy, to go above the question (nothing without a URL)."""
    return texts.get("privacy.policy_link", url=url) + "\n" if url else ""


async def anonymise_case(
    case: Case, tx: Repositories, now: datetime, reason: AnonymisedReason, actor: str | None = None
) -> int:
    """Remove a case's personal data (storage.cases.CaseRepository.anonymise), its drafts of answers,
    and the bodies of every outgoing row about it (pending ones are cancelled); record that it
    happened, with counts only, as `actor` (by default the one of `reason`). Returns how many
    messages were cleared."""
    messages = await tx.cases.anonymise(case.id, now, reason)
    drafts = await tx.reply_drafts.delete_for_case(case.id)
    cancelled = await tx.outbox.forget_case(case.id, f"anonymised: {reason}")
    detail = {"reason": reason, "messages": messages, "drafts": drafts, "cancelled": cancelled}
    await tx.audit.record(actor or ACTORS[reason], "case.anonymised", "case", case.id, now, detail)
    return messages


@dataclass(frozen=True)
class Forgotten:
    """What a deletion removed: the cases anonymised (ids and numbers) and counts."""

    case_ids: tuple[int, ...]
    numbers: tuple[str, ...]
    messages: int
    registrations: int


async def forget_citizen(user: User, tx: Repositories, now: datetime, actor: str = "citizen") -> Forgotten:
    """Deletion on request, in the caller's transaction: every case of the citizen anonymised, their
    sign-ups and conversation deleted, their display name and privacy agreement cleared, and the
    audit log told what happened (case numbers and counts, never the data), as done by `actor` (the
    citizen, or `system:restore` making it again). The caller clears the platform's rows (pending
    messages, stored events) in the same transaction."""
    cases = await tx.cases.for_user(user.id)
    messages = 0
    for case in cases:
        messages += await anonymise_case(case, tx, now, "request", actor)
    registrations = await tx.registrations.delete_for_user(user.id)
    await tx.questionnaire.delete_for_user(user.id)  # their answers to questionnaires
    await tx.subscriptions.delete_for_user(user.id)  # the kinds chosen for announcements, and 配信停止
    await tx.conversations.delete(user.id)
    await tx.users.forget(user.id, now)
    numbers = tuple(c.number for c in cases)
    detail = {"cases": list(numbers), "messages": messages, "registrations": registrations}
    await tx.audit.record(actor, "citizen.data_deleted", "user", user.id, now, detail)
    # Cleared rows must leave the database file too, not only the tables.
    tx.checkpoint_after_commit()
    return Forgotten(tuple(c.id for c in cases), numbers, messages, registrations)


async def delete_on_request(
    user: User, tx: Repositories, ctx: DeskContext, told: list[Outgoing], actor: str = "citizen"
) -> tuple[Reply, Forgotten]:
    """削除 → はい, in the caller's transaction: `forget_citizen`, the seats the citizen held go to the
    first on each waitlist (who are told), and the reply whose staff events redraw the cases' Slack
    cards without the data. `told` is what the citizen gets last (nothing when a restore replays a
    deletion: they had it; its `actor` is then `system:restore`)."""
    seated = [r.event_id for r in await tx.registrations.for_user(user.id) if r.status == "registered"]
    forgotten = await forget_citizen(user, tx, ctx.now, actor)
    notify = await events.fill_freed_seats(tx, seated, ctx)
    staff = [StaffEvent("case_anonymised", case_id) for case_id in forgotten.case_ids]
    return Reply(told, staff, forgotten=True, notify=notify), forgotten
