"""Failures that need a person, one row per cause: how often, the latest detail, when last posted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.base import Repository, from_row
from storage.timefmt import to_db


@dataclass(frozen=True)
class OpsAlert:
    cause: str
    detail: str
    count: int
    first_at: datetime
    last_at: datetime
    posted_at: datetime | None


class OpsAlertRepository(Repository):
    async def note(self, cause: str, detail: str, now: datetime, quiet_for: timedelta) -> int | None:
        """Count one more occurrence. When it should be posted (not posted within `quiet_for`), return
        how many times the cause has occurred; else None."""
        await self._run(
            "INSERT INTO ops_alerts (cause, detail, count, first_at, last_at) VALUES (?, ?, 1, ?, ?)"
            " ON CONFLICT (cause) DO UPDATE SET detail = excluded.detail, count = count + 1,"
            " last_at = excluded.last_at",
            (cause, detail, to_db(now), to_db(now)),
        )
        due = await self._run(
            "UPDATE ops_alerts SET posted_at = ? WHERE cause = ? AND (posted_at IS NULL OR posted_at <= ?)",
            (to_db(now), cause, to_db(now - quiet_for)),
        )
        if not due:
            return None
        row = await self._one("SELECT count FROM ops_alerts WHERE cause = ?", (cause,))
        return None if row is None else int(row[0])

    async def since(self, moment: datetime) -> list[OpsAlert]:
        """Causes that occurred since `moment`, most recent first."""
        rows = await self._all(
            "SELECT * FROM ops_alerts WHERE last_at >= ? ORDER BY last_at DESC", (to_db(moment),)
        )
        return [from_row(OpsAlert, r) for r in rows]
