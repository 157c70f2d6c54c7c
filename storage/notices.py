"""Network-meeting notices to the ward centers, their answers, the copies that show them, and the
claims of their reminders (migration 0017)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from storage.base import Repository, from_row
from storage.timefmt import to_db

Answer = Literal["attend", "absent", "maybe"]
NoticeStatus = Literal["active", "changed", "cancelled"]
Via = Literal["slack", "line"]
# The two reminders of a notice: to wards without an answer before the deadline; on the meeting day,
# to wards attending.
ReminderKind = Literal["unanswered", "day"]
REMINDER_KINDS: tuple[ReminderKind, ...] = ("unanswered", "day")


@dataclass(frozen=True)
class NoticeDraft:
    """A notice's details as staff give them; `agenda` is stored as the notice's body."""

    title: str
    meeting_at: datetime
    answer_by: datetime
    venue: str = ""
    online_url: str = ""
    agenda: str = ""
    materials_url: str = ""


@dataclass(frozen=True)
class Notice:
    id: int
    title: str
    body: str
    meeting_at: datetime | None
    answer_by: datetime | None
    created_by: str
    created_at: datetime
    venue: str
    online_url: str
    materials_url: str
    status: NoticeStatus
    updated_at: datetime | None
    sheet_channel: str | None
    sheet_ts: str | None
    remind_unanswered_at: datetime | None
    remind_unanswered_claimed_at: datetime | None
    remind_day_at: datetime | None
    remind_day_claimed_at: datetime | None

    @property
    def agenda(self) -> str:
        return self.body


@dataclass(frozen=True)
class NoticeRecipient:
    notice_id: int
    ward_center_id: int
    answer: Answer | None
    attendees: int | None
    answered_at: datetime | None
    answered_by: str | None
    answered_via: Via | None
    answered_in: str | None
    slack_channel: str | None
    slack_ts: str | None
    line_group_id: str | None
    line_message_id: str | None


@dataclass(frozen=True)
class GivenAnswer:
    """One answer as given (the history; the recipient row holds the current one)."""

    answer: Answer
    attendees: int | None
    answered_by: str
    answered_via: Via
    answered_in: str
    answered_at: datetime


@dataclass(frozen=True)
class DueReminder:
    notice_id: int
    kind: ReminderKind
    due_at: datetime


class NoticeRepository(Repository):
    async def create(
        self,
        draft: NoticeDraft,
        created_by: str,
        now: datetime,
        recipients: Sequence[tuple[int, str | None, str | None]],
    ) -> Notice:
        """A notice for these wards: (ward center id, its Slack channel, its LINE group) each, as they
        are when the notice is sent (a ward linked later does not receive it)."""
        notice_id = await self._insert(
            "notices",
            {
                "title": draft.title,
                "body": draft.agenda,
                "meeting_at": draft.meeting_at,
                "answer_by": draft.answer_by,
                "venue": draft.venue,
                "online_url": draft.online_url,
                "materials_url": draft.materials_url,
                "created_by": created_by,
                "created_at": now,
                "updated_at": now,
            },
        )
        for ward_center_id, slack_channel, line_group_id in recipients:
            await self._run(
                "INSERT INTO notice_recipients (notice_id, ward_center_id, slack_channel, line_group_id)"
                " VALUES (?, ?, ?, ?)",
                (notice_id, ward_center_id, slack_channel or None, line_group_id or None),
            )
        notice = await self.get(notice_id)
        assert notice is not None
        return notice

    async def get(self, notice_id: int) -> Notice | None:
        row = await self._one("SELECT * FROM notices WHERE id = ?", (notice_id,))
        return None if row is None else from_row(Notice, row)

    async def listing(self, since: datetime, limit: int = 20) -> list[Notice]:
        """Notices whose meeting is not over yet, soonest first."""
        rows = await self._all(
            "SELECT * FROM notices WHERE meeting_at >= ? ORDER BY meeting_at, id LIMIT ?",
            (to_db(since), limit),
        )
        return [from_row(Notice, r) for r in rows]

    async def recipients(self, notice_id: int) -> list[NoticeRecipient]:
        rows = await self._all(
            "SELECT * FROM notice_recipients WHERE notice_id = ? ORDER BY ward_center_id", (notice_id,)
        )
        return [from_row(NoticeRecipient, r) for r in rows]

    async def recipient(self, notice_id: int, ward_center_id: int) -> NoticeRecipient | None:
        row = await self._one(
            "SELECT * FROM notice_recipients WHERE notice_id = ? AND ward_center_id = ?",
            (notice_id, ward_center_id),
        )
        return None if row is None else from_row(NoticeRecipient, row)

    async def record_answer(
        self,
        notice_id: int,
        ward_center_id: int,
        answer: Answer,
        attendees: int | None,
        answered_by: str,
        via: Via,
        answered_in: str,
        now: datetime,
    ) -> bool:
        """The ward's answer; False (and nothing written) when it is the answer already on record, so a
        double click or a retried request changes nothing."""
        changed = await self._run(
            "UPDATE notice_recipients SET answer = :answer, attendees = :attendees, answered_at = :at,"
            " answered_by = :by, answered_via = :via, answered_in = :where"
            " WHERE notice_id = :notice AND ward_center_id = :ward"
            " AND (answer IS NOT :answer OR attendees IS NOT :attendees)",
            {
                "answer": answer,
                "attendees": attendees,
                "at": to_db(now),
                "by": answered_by,
                "via": via,
                "where": answered_in,
                "notice": notice_id,
                "ward": ward_center_id,
            },
        )
        if changed != 1:
            return False
        await self._insert(
            "notice_answers",
            {
                "notice_id": notice_id,
                "ward_center_id": ward_center_id,
                "answer": answer,
                "attendees": attendees,
                "answered_by": answered_by,
                "answered_via": via,
                "answered_in": answered_in,
                "answered_at": now,
            },
        )
        return True

    async def history(self, notice_id: int, ward_center_id: int) -> list[GivenAnswer]:
        rows = await self._all(
            "SELECT answer, attendees, answered_by, answered_via, answered_in, answered_at FROM notice_answers"
            " WHERE notice_id = ? AND ward_center_id = ? ORDER BY id",
            (notice_id, ward_center_id),
        )
        return [from_row(GivenAnswer, r) for r in rows]

    async def set_slack_copy(self, notice_id: int, ward_center_id: int, channel: str, ts: str) -> None:
        await self._run(
            "UPDATE notice_recipients SET slack_channel = ?, slack_ts = ? WHERE notice_id = ? AND ward_center_id = ?",
            (channel, ts, notice_id, ward_center_id),
        )

    async def set_line_copy(self, notice_id: int, ward_center_id: int, message_id: str) -> None:
        """The LINE message id of the ward's copy (the first one sent; LINE messages cannot be edited)."""
        await self._run(
            "UPDATE notice_recipients SET line_message_id = coalesce(line_message_id, ?)"
            " WHERE notice_id = ? AND ward_center_id = ?",
            (message_id, notice_id, ward_center_id),
        )

    async def set_sheet(self, notice_id: int, channel: str, ts: str) -> None:
        await self._run(
            "UPDATE notices SET sheet_channel = ?, sheet_ts = ? WHERE id = ?", (channel, ts, notice_id)
        )

    async def change(self, notice_id: int, draft: NoticeDraft, now: datetime) -> bool:
        """New details (status `changed`); False when the notice is cancelled or gone."""
        changed = await self._run(
            "UPDATE notices SET title = ?, body = ?, meeting_at = ?, answer_by = ?, venue = ?, online_url = ?,"
            " materials_url = ?, status = 'changed', updated_at = ? WHERE id = ? AND status <> 'cancelled'",
            (
                draft.title,
                draft.agenda,
                to_db(draft.meeting_at),
                to_db(draft.answer_by),
                draft.venue,
                draft.online_url,
                draft.materials_url,
                to_db(now),
                notice_id,
            ),
        )
        return changed == 1

    async def cancel(self, notice_id: int, now: datetime) -> bool:
        """Cancelled, its reminders with it; False when it was cancelled already (or is gone)."""
        changed = await self._run(
            "UPDATE notices SET status = 'cancelled', updated_at = ?, remind_unanswered_at = NULL,"
            " remind_day_at = NULL WHERE id = ? AND status <> 'cancelled'",
            (to_db(now), notice_id),
        )
        return changed == 1

    async def schedule_reminder(self, notice_id: int, kind: ReminderKind, due_at: datetime | None) -> bool:
        """Set when a reminder falls due (None: none). A new time clears its claim, so a reminder sent
        for an old deadline goes out again for the new one; the same time changes nothing."""
        changed = await self._run(
            f"UPDATE notices SET remind_{kind}_at = ?, remind_{kind}_claimed_at = NULL"
            f" WHERE id = ? AND remind_{kind}_at IS NOT ?",
            (None if due_at is None else to_db(due_at), notice_id, None if due_at is None else to_db(due_at)),
        )
        return changed == 1

    async def due_reminders(self, now: datetime) -> list[DueReminder]:
        """Unclaimed reminders of notices not cancelled whose time has come."""
        found: list[DueReminder] = []
        for kind in REMINDER_KINDS:
            rows = await self._all(
                f"SELECT id, remind_{kind}_at FROM notices WHERE status <> 'cancelled'"
                f" AND remind_{kind}_claimed_at IS NULL AND remind_{kind}_at <= ? ORDER BY remind_{kind}_at, id",
                (to_db(now),),
            )
            for row in rows:
                found.append(from_row(DueReminder, {"notice_id": row[0], "kind": kind, "due_at": row[1]}))
        return sorted(found, key=lambda r: (r.due_at, r.notice_id))

    async def pending_reminders(self) -> list[DueReminder]:
        """Every unclaimed reminder still to come (for the alarms)."""
        found: list[DueReminder] = []
        for kind in REMINDER_KINDS:
            rows = await self._all(
                f"SELECT id, remind_{kind}_at FROM notices WHERE status <> 'cancelled'"
                f" AND remind_{kind}_claimed_at IS NULL AND remind_{kind}_at IS NOT NULL",
            )
            for row in rows:
                found.append(from_row(DueReminder, {"notice_id": row[0], "kind": kind, "due_at": row[1]}))
        return found

    async def claim_reminder(self, notice_id: int, kind: ReminderKind, now: datetime) -> bool:
        """Take a due reminder: of two ticks or processes, exactly one changes the row; none when a
        change of the notice moved the reminder later since it was read as due."""
        now_text = to_db(now)
        changed = await self._run(
            f"UPDATE notices SET remind_{kind}_claimed_at = ? WHERE id = ? AND remind_{kind}_claimed_at IS NULL"
            f" AND remind_{kind}_at IS NOT NULL AND remind_{kind}_at <= ? AND status <> 'cancelled'",
            (now_text, notice_id, now_text),
        )
        return changed == 1
