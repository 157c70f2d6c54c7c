"""Consultation cases, their human-readable numbers and the messages exchanged on them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from storage.base import Repository, from_row
from storage.timefmt import opt_to_db, to_db

CaseStatus = Literal["new", "in_progress", "closed"]
AnonymisedReason = Literal["request", "retention"]
Direction = Literal["citizen", "reply", "note", "system"]
# The kind of a citizen's message they unsent on LINE (送信取消): its body is gone, the row stays.
UNSENT = "unsent"


@dataclass(frozen=True)
class NewCase:
    user_id: int | None
    category: str
    requester_type: str
    person_name: str
    contact_method: Literal["line", "phone", "email"]
    body: str
    organisation: str | None = None
    phone: str | None = None
    email: str | None = None
    preferred_dates: str | None = None
    # How the person's name is read (ふりがな, hiragana), so staff can call back (migration 0007).
    furigana: str | None = None


@dataclass(frozen=True)
class Case:
    id: int
    number: str
    user_id: int | None
    category: str
    status: CaseStatus
    assignee: str | None
    requester_type: str
    organisation: str | None
    person_name: str
    contact_method: str
    phone: str | None
    email: str | None
    body: str
    preferred_dates: str | None
    slack_channel: str | None
    slack_ts: str | None
    created_at: datetime
    updated_at: datetime
    first_response_at: datetime | None
    closed_at: datetime | None
    reminded_at: datetime | None = None
    escalated_at: datetime | None = None
    # ふりがな of person_name, hiragana (migration 0007); None for cases from before it, or a name
    # in letters.
    furigana: str | None = None
    # The promise (migration 0008): when the citizen was told to expect an answer, whether the
    # consultation came in out of hours, and when staff were told the date passed unanswered.
    answer_due_at: datetime | None = None
    received_out_of_hours: bool = False
    overdue_notified_at: datetime | None = None
    # Personal data removed (migration 0009): when, and whether the citizen asked or retention ran out.
    anonymised_at: datetime | None = None
    anonymised_reason: AnonymisedReason | None = None


@dataclass(frozen=True)
class CaseMessage:
    id: int
    case_id: int
    direction: Direction
    author: str | None
    kind: str
    body: str
    line_message_id: str | None
    slack_ts: str | None
    created_at: datetime


class CaseRepository(Repository):
    async def create(self, new: NewCase, now: datetime, year: int) -> Case:
        """Store a case under the next number of `year` (the center's local year), e.g. 2026-0042."""
        row = await self._one(
            "INSERT INTO case_numbers (year, last_seq) VALUES (?, 1)"
            " ON CONFLICT (year) DO UPDATE SET last_seq = last_seq + 1 RETURNING last_seq",
            (year,),
        )
        assert row is not None
        stored = await self._insert_row(
            "cases",
            {
                "number": f"{year}-{row[0]:04d}",
                "status": "new",
                "created_at": now,
                "updated_at": now,
                **new.__dict__,
            },
        )
        return from_row(Case, stored)

    async def get(self, case_id: int) -> Case | None:
        row = await self._one("SELECT * FROM cases WHERE id = ?", (case_id,))
        return None if row is None else from_row(Case, row)

    async def by_number(self, number: str) -> Case | None:
        row = await self._one("SELECT * FROM cases WHERE number = ?", (number,))
        return None if row is None else from_row(Case, row)

    async def by_slack_message(self, channel: str, ts: str) -> Case | None:
        """The case whose card is this Slack message (a thread's parent)."""
        row = await self._one("SELECT * FROM cases WHERE slack_channel = ? AND slack_ts = ?", (channel, ts))
        return None if row is None else from_row(Case, row)

    async def get_message(self, message_id: int) -> CaseMessage | None:
        row = await self._one("SELECT * FROM case_messages WHERE id = ?", (message_id,))
        return None if row is None else from_row(CaseMessage, row)

    async def for_user(self, user_id: int, include_closed: bool = True) -> list[Case]:
        closed = "" if include_closed else " AND status != 'closed'"
        rows = await self._all(f"SELECT * FROM cases WHERE user_id = ?{closed} ORDER BY id", (user_id,))
        return [from_row(Case, r) for r in rows]

    async def open_groups(self) -> list[tuple[str | None, str, int]]:
        """The open cases counted by (Slack channel posted in, category): who may see them is decided
        per channel, so a listing need not load every open case."""
        rows = await self._all(
            "SELECT slack_channel, category, count(*) FROM cases WHERE status IN ('new', 'in_progress')"
            " GROUP BY slack_channel, category"
        )
        return [(r[0], str(r[1]), int(r[2])) for r in rows]

    async def open_in_groups(self, groups: Sequence[tuple[str | None, str]], limit: int) -> list[Case]:
        """The oldest open cases (at most `limit`) of these (Slack channel, category) groups."""
        if not groups:
            return []
        where = " OR ".join("(slack_channel IS ? AND category = ?)" for _ in groups)
        params = [value for group in groups for value in group]
        rows = await self._all(
            f"SELECT * FROM cases WHERE status IN ('new', 'in_progress') AND ({where}) ORDER BY id LIMIT ?",
            (*params, limit),
        )
        return [from_row(Case, r) for r in rows]

    async def with_status(self, *statuses: CaseStatus) -> list[Case]:
        marks = ", ".join("?" for _ in statuses)
        rows = await self._all(f"SELECT * FROM cases WHERE status IN ({marks}) ORDER BY id", statuses)
        return [from_row(Case, r) for r in rows]

    async def set_status(self, case_id: int, status: CaseStatus, now: datetime) -> None:
        closed_at = now if status == "closed" else None
        await self._run(
            "UPDATE cases SET status = ?, closed_at = ?, updated_at = ? WHERE id = ?",
            (status, opt_to_db(closed_at), to_db(now), case_id),
        )

    async def set_assignee(self, case_id: int, assignee: str | None, now: datetime) -> None:
        await self._run(
            "UPDATE cases SET assignee = ?, updated_at = ? WHERE id = ?", (assignee, to_db(now), case_id)
        )

    async def claim(self, case_id: int, assignee: str, now: datetime) -> bool:
        """Make `assignee` the case's assignee if nobody is; one conditional UPDATE, so of any number of
        concurrent claims exactly one wins. A new case becomes in progress. False: someone has it
        already (or it is closed, or gone)."""
        changed = await self._run(
            "UPDATE cases SET assignee = ?, updated_at = ?,"
            " status = CASE WHEN status = 'new' THEN 'in_progress' ELSE status END"
            " WHERE id = ? AND assignee IS NULL AND status != 'closed'",
            (assignee, to_db(now), case_id),
        )
        return changed == 1

    async def unclaim(self, case_id: int, assignee: str, now: datetime) -> bool:
        """Release the case if `assignee` still has it: of two concurrent releases exactly one wins."""
        changed = await self._run(
            "UPDATE cases SET assignee = NULL, updated_at = ? WHERE id = ? AND assignee = ?",
            (to_db(now), case_id, assignee),
        )
        return changed == 1

    async def set_first_response(self, case_id: int, now: datetime) -> None:
        """Record the first answer to the citizen; later answers leave it unchanged."""
        await self._run(
            "UPDATE cases SET first_response_at = coalesce(first_response_at, ?), updated_at = ? WHERE id = ?",
            (to_db(now), to_db(now), case_id),
        )

    async def count_open(self) -> int:
        row = await self._one("SELECT count(*) FROM cases WHERE status != 'closed'")
        assert row is not None
        return int(row[0])

    async def count_closed_since(self, since: datetime) -> int:
        row = await self._one(
            "SELECT count(*) FROM cases WHERE status = 'closed' AND closed_at >= ?", (to_db(since),)
        )
        assert row is not None
        return int(row[0])

    async def answered_since(self, since: datetime) -> list[Case]:
        """Cases received since a moment that have had a first answer (for time-to-first-answer)."""
        rows = await self._all(
            "SELECT * FROM cases WHERE created_at >= ? AND first_response_at IS NOT NULL ORDER BY id",
            (to_db(since),),
        )
        return [from_row(Case, r) for r in rows]

    async def assigned_to(self, assignee: str) -> list[Case]:
        rows = await self._all(
            "SELECT * FROM cases WHERE assignee = ? AND status != 'closed' ORDER BY id", (assignee,)
        )
        return [from_row(Case, r) for r in rows]

    async def unclaimed(self) -> list[Case]:
        """Open cases nobody has claimed, oldest first."""
        rows = await self._all("SELECT * FROM cases WHERE status = 'new' AND assignee IS NULL ORDER BY id")
        return [from_row(Case, r) for r in rows]

    async def mark_reminded(self, case_id: int, now: datetime) -> bool:
        changed = await self._run(
            "UPDATE cases SET reminded_at = ? WHERE id = ? AND reminded_at IS NULL", (to_db(now), case_id)
        )
        return changed == 1

    async def mark_escalated(self, case_id: int, now: datetime) -> bool:
        changed = await self._run(
            "UPDATE cases SET escalated_at = ? WHERE id = ? AND escalated_at IS NULL", (to_db(now), case_id)
        )
        return changed == 1

    async def set_promise(self, case_id: int, answer_due_at: datetime, received_out_of_hours: bool) -> None:
        await self._run(
            "UPDATE cases SET answer_due_at = ?, received_out_of_hours = ? WHERE id = ?",
            (to_db(answer_due_at), int(received_out_of_hours), case_id),
        )

    async def unanswered_past_due(self, now: datetime) -> list[Case]:
        """Open cases whose answer date has passed with no answer sent to the citizen, not yet reported."""
        rows = await self._all(
            "SELECT * FROM cases WHERE status != 'closed' AND first_response_at IS NULL"
            " AND answer_due_at IS NOT NULL AND answer_due_at <= ? AND overdue_notified_at IS NULL ORDER BY id",
            (to_db(now),),
        )
        return [from_row(Case, r) for r in rows]

    async def mark_overdue_notified(self, case_id: int, now: datetime) -> bool:
        changed = await self._run(
            "UPDATE cases SET overdue_notified_at = ? WHERE id = ? AND overdue_notified_at IS NULL",
            (to_db(now), case_id),
        )
        return changed == 1

    async def earlier_numbers(self, case: Case) -> list[str]:
        """The numbers of the same citizen's cases received before this one, oldest first."""
        if case.user_id is None:
            return []
        rows = await self._all(
            "SELECT number FROM cases WHERE user_id = ? AND id < ? ORDER BY id", (case.user_id, case.id)
        )
        return [str(r[0]) for r in rows]

    async def set_slack_message(self, case_id: int, channel: str, ts: str) -> None:
        await self._run(
            "UPDATE cases SET slack_channel = ?, slack_ts = ? WHERE id = ?", (channel, ts, case_id)
        )

    async def add_message(
        self,
        case_id: int,
        direction: Direction,
        body: str,
        now: datetime,
        *,
        author: str | None = None,
        kind: str = "text",
        line_message_id: str | None = None,
    ) -> CaseMessage:
        row = await self._insert_row(
            "case_messages",
            {
                "case_id": case_id,
                "direction": direction,
                "author": author,
                "kind": kind,
                "body": body,
                "line_message_id": line_message_id,
                "created_at": now,
            },
        )
        return from_row(CaseMessage, row)

    async def set_message_slack_ts(self, message_id: int, ts: str) -> None:
        await self._run("UPDATE case_messages SET slack_ts = ? WHERE id = ?", (ts, message_id))

    async def clear_message_slack_ts(self, message_ids: list[int]) -> None:
        """Forget where messages were posted in Slack (the posts were deleted)."""
        for message_id in message_ids:
            await self._run("UPDATE case_messages SET slack_ts = NULL WHERE id = ?", (message_id,))

    async def withdraw_message(self, user_id: int, line_message_id: str) -> CaseMessage | None:
        """Clear the body of a message the citizen unsent on LINE (送信取消): the row stays, of kind
        UNSENT, so staff can be told. Only a message of theirs, in a case of theirs. None when there
        is no such message (never stored, someone else's) or it was withdrawn already."""
        row = await self._one(
            f"UPDATE case_messages SET body = '', kind = '{UNSENT}'"
            f" WHERE line_message_id = ? AND direction = 'citizen' AND kind <> '{UNSENT}'"
            " AND case_id IN (SELECT id FROM cases WHERE user_id = ?) RETURNING *",
            (line_message_id, user_id),
        )
        return None if row is None else from_row(CaseMessage, row)

    async def messages(self, case_id: int) -> list[CaseMessage]:
        rows = await self._all("SELECT * FROM case_messages WHERE case_id = ? ORDER BY id", (case_id,))
        return [from_row(CaseMessage, r) for r in rows]

    async def anonymise(self, case_id: int, now: datetime, reason: AnonymisedReason) -> int:
        """Remove the personal data of a case and its messages; returns how many messages were cleared.

        Gone: name, ふりがな, organisation, phone, email, text, preferred dates, the link to the citizen
        (user_id) and every message body (with LINE's content ids). Kept for statistics: number,
        category, requester type, contact method, dates, assignee and status. An open case is closed
        (the citizen asked to end it). Idempotent.
        """
        await self._run(
            "UPDATE cases SET person_name = '', furigana = NULL, organisation = NULL, phone = NULL,"
            " email = NULL, body = '', preferred_dates = NULL, user_id = NULL,"
            " status = 'closed', closed_at = coalesce(closed_at, ?), updated_at = ?,"
            " anonymised_at = coalesce(anonymised_at, ?), anonymised_reason = coalesce(anonymised_reason, ?)"
            " WHERE id = ?",
            (to_db(now), to_db(now), to_db(now), reason, case_id),
        )
        return await self._run(
            "UPDATE case_messages SET body = '', line_message_id = NULL"
            " WHERE case_id = ? AND (body <> '' OR line_message_id IS NOT NULL)",
            (case_id,),
        )

    async def closed_before(self, before: datetime) -> list[Case]:
        """Closed cases not yet anonymised whose closing is older than a moment (for retention)."""
        rows = await self._all(
            "SELECT * FROM cases WHERE status = 'closed' AND anonymised_at IS NULL AND closed_at < ? ORDER BY id",
            (to_db(before),),
        )
        return [from_row(Case, r) for r in rows]
