"""Read-only figures about the database itself: what `madoguchi doctor` checks and `/metrics` shows."""

from __future__ import annotations

from storage.base import Repository


class HealthRepository(Repository):
    async def integrity_check(self) -> list[str]:
        """SQLite's `PRAGMA integrity_check`: ["ok"] for a sound file, else the problems it found."""
        rows = await self._all("PRAGMA integrity_check")
        return [str(row[0]) for row in rows]

    async def applied_migrations(self) -> set[int]:
        """Versions recorded in schema_migrations (empty on a database never migrated)."""
        exists = await self._one(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        )
        if exists is None:
            return set()
        rows = await self._all("SELECT version FROM schema_migrations")
        return {int(row[0]) for row in rows}

    async def outbox_by_channel(self, status: str) -> dict[str, int]:
        """How many outgoing rows of this status each channel ("line", "slack") has."""
        rows = await self._all(
            "SELECT channel, count(*) FROM outbox WHERE status = ? GROUP BY channel", (status,)
        )
        return {str(row[0]): int(row[1]) for row in rows}
