"""Announcements: the kinds of events each citizen chose to hear about (配信設定), their 配信停止, and
the events already announced (migration 0015).

Who is told of a new event of a kind: citizens who follow the account, chose that kind, and have not
stopped announcements. Unfollowed citizens are never counted (the LINE sender also drops them from a
multicast at send time).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.base import Repository, from_row
from storage.timefmt import to_db

_RECIPIENTS_WHERE = (
    "SELECT u.line_user_id FROM subscriptions s JOIN users u ON u.id = s.user_id"
    " WHERE s.kind = ? AND s.subscribed = 1 AND u.following = 1"
    " AND NOT EXISTS (SELECT 1 FROM subscription_stops t WHERE t.user_id = s.user_id)"
)
_RECIPIENTS_SQL = _RECIPIENTS_WHERE + " ORDER BY u.id"


@dataclass(frozen=True)
class Announcement:
    event_id: int
    announced_at: datetime
    announced_by: str
    recipients: int
    messages: int


class SubscriptionRepository(Repository):
    async def kinds(self, user_id: int) -> set[str]:
        """The kinds the citizen chose (whether or not announcements are stopped)."""
        rows = await self._all(
            "SELECT kind FROM subscriptions WHERE user_id = ? AND subscribed = 1", (user_id,)
        )
        return {str(r[0]) for r in rows}

    async def choose(self, user_id: int, kind: str, on: bool, now: datetime) -> None:
        await self._run(
            "INSERT INTO subscriptions (user_id, kind, subscribed, updated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (user_id, kind) DO UPDATE SET subscribed = excluded.subscribed,"
            " updated_at = excluded.updated_at",
            (user_id, kind, int(on), to_db(now)),
        )

    async def mark_offered(self, user_id: int, kind: str, now: datetime) -> bool:
        """Record that the citizen is being asked about this kind; False when they were asked before
        (so the question is put once, even to two sign-ups handled at the same moment)."""
        await self._run(
            "INSERT INTO subscriptions (user_id, kind, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (user_id, kind) DO NOTHING",
            (user_id, kind, to_db(now)),
        )
        changed = await self._run(
            "UPDATE subscriptions SET offered_at = ?, updated_at = ?"
            " WHERE user_id = ? AND kind = ? AND offered_at IS NULL",
            (to_db(now), to_db(now), user_id, kind),
        )
        return changed == 1

    async def stopped(self, user_id: int) -> bool:
        row = await self._one("SELECT 1 FROM subscription_stops WHERE user_id = ?", (user_id,))
        return row is not None

    async def stop(self, user_id: int, now: datetime) -> None:
        """配信停止: nothing is announced to the citizen until they resume (their choices are kept)."""
        await self._run(
            "INSERT INTO subscription_stops (user_id, stopped_at) VALUES (?, ?)"
            " ON CONFLICT (user_id) DO NOTHING",
            (user_id, to_db(now)),
        )

    async def resume(self, user_id: int) -> bool:
        """Announcements again (for the kinds chosen); False when they were not stopped."""
        return await self._run("DELETE FROM subscription_stops WHERE user_id = ?", (user_id,)) == 1

    async def recipients(self, kind: str) -> list[str]:
        """LINE user ids of those to tell of a new event of this kind, in a stable order."""
        return [str(r[0]) for r in await self._all(_RECIPIENTS_SQL, (kind,))]

    async def still_recipients(self, kind: str, line_user_ids: list[str]) -> list[str]:
        """Those of these LINE users who would be told of a new event of this kind now (as
        `recipients`), in the order given: an announcement queued earlier leaves out whoever sent
        配信停止, turned the kind off, unfollowed or was deleted since."""
        kept: set[str] = set()
        for start in range(0, len(line_user_ids), 500):
            chunk = line_user_ids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            sql = f"{_RECIPIENTS_WHERE} AND u.line_user_id IN ({marks})"
            kept.update(str(r[0]) for r in await self._all(sql, (kind, *chunk)))
        return [u for u in line_user_ids if u in kept]

    async def delete_for_user(self, user_id: int) -> int:
        """Deletion on request: the citizen's choices and their 配信停止 go."""
        chosen = await self._run("DELETE FROM subscriptions WHERE user_id = ?", (user_id,))
        stops = await self._run("DELETE FROM subscription_stops WHERE user_id = ?", (user_id,))
        return chosen + stops


class AnnouncementRepository(Repository):
    async def get(self, event_id: int) -> Announcement | None:
        row = await self._one("SELECT * FROM announcements WHERE event_id = ?", (event_id,))
        return None if row is None else from_row(Announcement, row)

    async def claim(self, event_id: int, now: datetime, actor: str, recipients: int, messages: int) -> bool:
        """Record that the event is announced now; False when it was announced before (nothing to do)."""
        changed = await self._run(
            "INSERT INTO announcements (event_id, announced_at, announced_by, recipients, messages)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING",
            (event_id, to_db(now), actor, recipients, messages),
        )
        return changed == 1
