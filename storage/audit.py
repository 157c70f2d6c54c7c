"""Who did what to which case, event or notice: an append-only log."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from storage.base import Repository, from_row


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    subject_type: str
    subject_id: str
    detail: dict[str, Any] = field(default_factory=dict)


class AuditRepository(Repository):
    async def record(
        self,
        actor: str,
        action: str,
        subject_type: str,
        subject_id: str | int,
        now: datetime,
        detail: dict[str, Any] | None = None,
    ) -> AuditEntry:
        entry_id = await self._insert(
            "audit_log",
            {
                "at": now,
                "actor": actor,
                "action": action,
                "subject_type": subject_type,
                "subject_id": str(subject_id),
                "detail": json.dumps(detail or {}, ensure_ascii=False),
            },
        )
        row = await self._one("SELECT * FROM audit_log WHERE id = ?", (entry_id,))
        assert row is not None
        return self._entry(row)

    async def for_subject(self, subject_type: str, subject_id: str | int) -> list[AuditEntry]:
        rows = await self._all(
            "SELECT * FROM audit_log WHERE subject_type = ? AND subject_id = ? ORDER BY id",
            (subject_type, str(subject_id)),
        )
        return [self._entry(r) for r in rows]

    async def actors(self, action: str, subject_type: str, subject_id: str | int, surface: str) -> list[str]:
        """Who has an `action` entry on this subject with this `surface` in its detail, each once."""
        rows = await self._all(
            "SELECT actor FROM audit_log WHERE subject_type = ? AND subject_id = ? AND action = ?"
            " AND json_extract(detail, '$.surface') = ? GROUP BY actor ORDER BY min(id)",
            (subject_type, str(subject_id), action, surface),
        )
        return [str(r["actor"]) for r in rows]

    @staticmethod
    def _entry(row: Any) -> AuditEntry:
        values = dict(row)
        values["detail"] = json.loads(values["detail"])
        return from_row(AuditEntry, values)
