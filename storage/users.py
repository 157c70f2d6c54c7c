"""Citizens known by their LINE user id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.base import Repository, from_row
from storage.timefmt import opt_to_db, to_db


@dataclass(frozen=True)
class User:
    id: int
    line_user_id: str
    display_name: str | None
    display_name_fetched_at: datetime | None
    following: bool
    followed_at: datetime | None
    unfollowed_at: datetime | None
    privacy_agreed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    # The version of the privacy notice agreed to (`[privacy] notice_version`, migration 0009).
    privacy_notice_version: str | None = None


class UserRepository(Repository):
    async def get(self, user_id: int) -> User | None:
        row = await self._one("SELECT * FROM users WHERE id = ?", (user_id,))
        return None if row is None else from_row(User, row)

    async def by_line_id(self, line_user_id: str) -> User | None:
        row = await self._one("SELECT * FROM users WHERE line_user_id = ?", (line_user_id,))
        return None if row is None else from_row(User, row)

    async def ensure(self, line_user_id: str, now: datetime) -> User:
        """The user with this LINE id, created on first sight (a message can precede any follow).

        Read first: almost every event comes from a citizen already known, so that is one statement;
        a new one is inserted and returned by the same statement (the writer's transaction holds the
        write lock, so nobody can insert them in between)."""
        user = await self.by_line_id(line_user_id)
        if user is not None:
            return user
        row = await self._one(
            "INSERT INTO users (line_user_id, created_at, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (line_user_id) DO NOTHING RETURNING *",
            (line_user_id, to_db(now), to_db(now)),
        )
        return from_row(User, row) if row is not None else await self._must(line_user_id)

    async def mark_followed(self, line_user_id: str, now: datetime) -> User:
        return await self._upsert_follow(
            line_user_id,
            now,
            "following = 1, followed_at = excluded.followed_at, unfollowed_at = NULL",
            following=True,
        )

    async def mark_unfollowed(self, line_user_id: str, now: datetime) -> User:
        return await self._upsert_follow(
            line_user_id, now, "following = 0, unfollowed_at = excluded.unfollowed_at", following=False
        )

    async def _upsert_follow(self, line_user_id: str, now: datetime, change: str, following: bool) -> User:
        """Create the user if new and set their follow state, in one statement that returns the row."""
        stamp = to_db(now)
        row = await self._one(
            "INSERT INTO users (line_user_id, following, followed_at, unfollowed_at, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?)"
            f" ON CONFLICT (line_user_id) DO UPDATE SET {change}, updated_at = excluded.updated_at"
            " RETURNING *",
            (
                line_user_id,
                int(following),
                stamp if following else None,
                None if following else stamp,
                stamp,
                stamp,
            ),
        )
        assert row is not None
        return from_row(User, row)

    async def set_display_name(self, user_id: int, name: str | None, now: datetime) -> None:
        await self._run(
            "UPDATE users SET display_name = ?, display_name_fetched_at = ?, updated_at = ? WHERE id = ?",
            (name, to_db(now), to_db(now), user_id),
        )

    async def set_privacy_agreed(
        self, user_id: int, agreed_at: datetime | None, now: datetime, version: str | None = None
    ) -> None:
        """Record (or, with None, withdraw) the citizen's agreement to a version of the privacy notice."""
        await self._run(
            "UPDATE users SET privacy_agreed_at = ?, privacy_notice_version = ?, updated_at = ? WHERE id = ?",
            (opt_to_db(agreed_at), version if agreed_at is not None else None, to_db(now), user_id),
        )

    async def forget(self, user_id: int, now: datetime) -> None:
        """Deletion on request: the display name and the privacy agreement go; the LINE user id and
        follow state stay (they say nothing about the person, and keep the account working)."""
        await self._run(
            "UPDATE users SET display_name = NULL, display_name_fetched_at = NULL, privacy_agreed_at = NULL,"
            " privacy_notice_version = NULL, updated_at = ? WHERE id = ?",
            (to_db(now), user_id),
        )

    async def _must(self, line_user_id: str) -> User:
        user = await self.by_line_id(line_user_id)
        assert user is not None
        return user
