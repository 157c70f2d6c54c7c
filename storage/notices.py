"""Network-meeting notices to the ward centers and their answers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from storage.base import Repository, from_row
from storage.timefmt import to_db

Answer = Literal["attend", "absent"]


@dataclass(frozen=True)
class Notice:
    id: int
    title: str
    body: str
    meeting_at: datetime | None
    answer_by: datetime | None
    created_by: str
    created_at: datetime


@dataclass(frozen=True)
class NoticeRecipient:
    notice_id: int
    ward_center_id: int
    answer: Answer | None
    answered_at: datetime | None
    answered_by: str | None


class NoticeRepository(Repository):
    async def create(
        self,
        title: str,
        body: str,
        created_by: str,
        now: datetime,
        ward_center_ids: Sequence[int],
        *,
        meeting_at: datetime | None = None,
        answer_by: datetime | None = None,
    ) -> Notice:
        notice_id = await self._insert(
            "notices",
            {
                "title": title,
                "body": body,
                "meeting_at": meeting_at,
                "answer_by": answer_by,
                "created_by": created_by,
                "created_at": now,
            },
        )
        for ward_center_id in ward_center_ids:
            await self._run(
                "INSERT INTO notice_recipients (notice_id, ward_center_id) VALUES (?, ?)",
                (notice_id, ward_center_id),
            )
        notice = await self.get(notice_id)
        assert notice is not None
        return notice

    async def get(self, notice_id: int) -> Notice | None:
        row = await self._one("SELECT * FROM notices WHERE id = ?", (notice_id,))
        return None if row is None else from_row(Notice, row)

    async def recipients(self, notice_id: int) -> list[NoticeRecipient]:
        rows = await self._all(
            "SELECT * FROM notice_recipients WHERE notice_id = ? ORDER BY ward_center_id", (notice_id,)
        )
        return [from_row(NoticeRecipient, r) for r in rows]

    async def record_answer(
        self, notice_id: int, ward_center_id: int, answer: Answer, answered_by: str, now: datetime
    ) -> bool:
        changed = await self._run(
            "UPDATE notice_recipients SET answer = ?, answered_at = ?, answered_by = ?"
            " WHERE notice_id = ? AND ward_center_id = ?",
            (answer, to_db(now), answered_by, notice_id, ward_center_id),
        )
        return changed == 1
