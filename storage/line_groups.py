"""LINE groups the bot has joined, recorded so ward centers' groups can be linked to them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.base import Repository, from_row
from storage.timefmt import to_db


@dataclass(frozen=True)
class LineGroup:
    group_id: str
    joined_at: datetime
    left_at: datetime | None

    @property
    def member(self) -> bool:
        """The bot is in the group now (joined, and not left since)."""
        return self.left_at is None


class LineGroupRepository(Repository):
    async def joined(self, group_id: str, now: datetime) -> None:
        await self._run(
            "INSERT INTO line_groups (group_id, joined_at) VALUES (?, ?)"
            " ON CONFLICT (group_id) DO UPDATE SET joined_at = excluded.joined_at, left_at = NULL",
            (group_id, to_db(now)),
        )

    async def left(self, group_id: str, now: datetime) -> None:
        await self._run(
            "INSERT INTO line_groups (group_id, joined_at, left_at) VALUES (?, ?, ?)"
            " ON CONFLICT (group_id) DO UPDATE SET left_at = excluded.left_at",
            (group_id, to_db(now), to_db(now)),
        )

    async def get(self, group_id: str) -> LineGroup | None:
        row = await self._one("SELECT * FROM line_groups WHERE group_id = ?", (group_id,))
        return None if row is None else from_row(LineGroup, row)
