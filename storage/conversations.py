"""Where each citizen stands in a guided conversation; one row per user, kept across restarts."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from storage.base import Repository, from_row
from storage.timefmt import opt_to_db, to_db


@dataclass(frozen=True)
class Conversation:
    user_id: int
    flow: str
    step: str
    started_at: datetime
    updated_at: datetime
    nudged_at: datetime | None = None
    data: dict[str, Any] = field(default_factory=dict)


class ConversationRepository(Repository):
    async def get(self, user_id: int) -> Conversation | None:
        row = await self._one("SELECT * FROM conversations WHERE user_id = ?", (user_id,))
        if row is None:
            return None
        values = dict(row)
        values["data"] = json.loads(values["data"])
        return from_row(Conversation, values)

    async def save(self, conversation: Conversation) -> None:
        await self._run(
            "INSERT INTO conversations (user_id, flow, step, data, started_at, updated_at, nudged_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (user_id) DO UPDATE SET flow = excluded.flow, step = excluded.step,"
            " data = excluded.data, started_at = excluded.started_at, updated_at = excluded.updated_at,"
            " nudged_at = excluded.nudged_at",
            (
                conversation.user_id,
                conversation.flow,
                conversation.step,
                json.dumps(conversation.data, ensure_ascii=False),
                to_db(conversation.started_at),
                to_db(conversation.updated_at),
                opt_to_db(conversation.nudged_at),
            ),
        )

    async def delete(self, user_id: int) -> None:
        await self._run("DELETE FROM conversations WHERE user_id = ?", (user_id,))

    async def idle_since(self, before: datetime) -> list[int]:
        """Users whose conversation has not moved since `before` (for nudges and expiry)."""
        rows = await self._all(
            "SELECT user_id FROM conversations WHERE updated_at < ? ORDER BY updated_at", (to_db(before),)
        )
        return [row[0] for row in rows]
