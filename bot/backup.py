"""Backups: the nightly online copy, `madoguchi backup` and `madoguchi restore FILE`.

A backup is a copy made with SQLite's backup API on a connection of its own, in a thread (the loop
is never blocked): safe while the bot runs, and it holds everything committed when it began. It is
written under a temporary name, checked (`PRAGMA integrity_check`) and only then renamed into place,
so the folder never holds a half-written copy under a backup's name. The newest `[backup] keep`
copies are kept.

The nightly one is not an alarm that can be missed: every minute the bot looks whether today's copy
(due at `[backup] at`, in the center's timezone) exists, so a bot that was down at that time makes
it as soon as it is back.

`serve` holds an exclusive lock (fcntl.flock) on `<database>.lock` for as long as it runs;
`restore` takes the same lock first and refuses while it cannot: the bot is running. The lock goes
away with the process, whatever way it ends (no stale lock file to delete by hand).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import re
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import IO

from bot.case_export import write_private
from bot.citizen import desk_context, queue_reply
from bot.clock import Clock
from bot.config import Settings
from bot.logs import fields
from flows import privacy
from flows.texts import Texts
from storage import Database
from storage.backup import check_file, copy_database
from storage.base import _busy
from storage.deletions import deletions_in, journal_line, journal_path, read_journal
from storage.migrate import recorded_versions, unknown_versions
from storage.repositories import Repositories

log = logging.getLogger("madoguchi.backup")

PREFIX = "madoguchi-"
SUFFIX = ".sqlite3"
_NAME = re.compile(r"^madoguchi-(\d{8}T\d{6}Z)\.sqlite3$")


class BackupError(Exception):
    """A backup or restore that could not be done, worded for the operator."""


class BotRunning(BackupError):
    pass


class BadBackup(BackupError):
    """The file given cannot be restored by this madoguchi: bad input, not a failure."""


class DatabaseInUse(BackupError):
    """Another process has the database open: moving it aside would lose what that process writes."""


# -- taking one -------------------------------------------------------------------------------------


def backup_name(now: datetime) -> str:
    return f"{PREFIX}{now.strftime('%Y%m%dT%H%M%SZ')}{SUFFIX}"


def backups_in(folder: Path) -> list[Path]:
    """The backups in `folder`, oldest first (by the UTC time in their names)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if _NAME.match(p.name))


def taken_at(path: Path) -> datetime:
    match = _NAME.match(path.name)
    assert match is not None
    return datetime.strptime(match.group(1), "%Y%m%dT%H%M%S%z")


def take_backup(database: Path, folder: Path, now: datetime, keep: int, busy_timeout_ms: int = 5000) -> Path:
    """Blocking: copy, check, rename into place, prune. Run it in a thread from async code."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)  # copies of the personal data: owner only
    target = folder / backup_name(now)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        result = copy_database(database, partial, busy_timeout_ms)
    except Exception:
        partial.unlink(missing_ok=True)
        raise
    if result != ["ok"]:
        partial.unlink(missing_ok=True)
        raise BackupError(f"the copy of {database} failed its integrity check: {'; '.join(result[:3])}")
    os.replace(partial, target)
    _fsync_dir(folder)
    for old in backups_in(folder)[:-keep]:
        old.unlink(missing_ok=True)
    return target


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class NightlyBackup:
    """Checked every minute by the scheduler; takes the day's copy once it is due."""

    # After a failure, the next try is this much later (not every minute).
    RETRY_AFTER = timedelta(hours=1)

    def __init__(
        self, settings: Settings, clock: Clock, on_failed: Callable[[str], Awaitable[None]] | None = None
    ) -> None:
        self._settings = settings
        self._clock = clock
        # Told the error kind of a failed nightly copy (the ops channel), once per try.
        self._on_failed = on_failed
        self._lock = asyncio.Lock()
        self._failed_at: datetime | None = None

    def due_since(self, now: datetime) -> datetime:
        """The latest `[backup] at` moment at or before `now` (as UTC)."""
        tz = self._settings.center.tz
        hour, minute = (int(part) for part in self._settings.backup.at.split(":"))
        local = now.astimezone(tz)
        moment = datetime.combine(local.date(), time(hour, minute), tzinfo=tz)
        if moment > local:
            moment -= timedelta(days=1)
        return moment.astimezone(now.tzinfo)

    async def run(self) -> Path | None:
        folder = self._settings.backup_folder
        if folder is None or self._lock.locked():
            return None
        async with self._lock:
            now = self._clock()
            latest = backups_in(folder)
            if latest and taken_at(latest[-1]) >= self.due_since(now):
                return None
            if self._failed_at is not None and now - self._failed_at < self.RETRY_AFTER:
                return None
            try:
                path = await self.take(folder, now)
            except Exception as exc:
                self._failed_at = now  # logged by take(); tried again in an hour
                if self._on_failed is not None:
                    await self._on_failed(type(exc).__name__)
                return None
            self._failed_at = None
            return path

    async def take(self, folder: Path, now: datetime) -> Path:
        s = self._settings
        try:
            path = await asyncio.to_thread(
                take_backup, s.database_path, folder, now, s.backup.keep, s.storage.busy_timeout_ms
            )
        except Exception as exc:
            log.error("backup.failed", extra=fields(error=type(exc).__name__, detail=str(exc)[:200]))
            raise
        log.info("backup.done", extra=fields(file=path.name, bytes=path.stat().st_size))
        return path


# -- the lock serve holds ---------------------------------------------------------------------------


def lock_path(settings: Settings) -> Path:
    database = settings.database_path
    return database.with_name(database.name + ".lock")


@contextlib.contextmanager
def serve_lock(settings: Settings) -> Iterator[None]:
    """Held by `serve` for its lifetime; raises BotRunning when another process holds it."""
    handle = _take_lock(settings)
    try:
        yield
    finally:
        handle.close()  # closing the file releases the lock


def _take_lock(settings: Settings) -> IO[str]:
    path = lock_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)  # the database's folder: owner only
    handle = open(path, "a+")  # noqa: SIM115 - held open for the lock's lifetime
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip()
        handle.close()
        raise BotRunning(
            f"madoguchi is running on {settings.database_path} (process {holder or 'unknown'} holds "
            f"{path}): stop it first (systemctl stop madoguchi, or Ctrl-C)"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


# -- restoring ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Restored:
    kept: Path | None  # the database replaced, renamed (None: there was none)
    replayed: int  # citizens whose deletion was made again on the restored copy
    journal: int  # deletions on record (<database>.deletions)
    skipped: int  # lines of the journal that could not be read
    unread: str | None  # why the replaced database's deletions could not be read, if they could not
    # Deletions since the backup may be missing: the replaced database was not read and the journal
    # was not written since the backup was taken.
    uncovered: bool
    copies: list[Path]  # every `.before-restore-…` copy beside the database


def restore(settings: Settings, backup: Path, now: datetime) -> Restored:
    """Put `backup` in place of the database, while the bot is stopped. Every deletion on request on
    record is made again on the copy first (`replay_deletions`), so a backup taken before a deletion
    never brings the citizen's data back. The database it replaces (and its -wal and -shm files) is
    kept next to it, renamed."""
    if not backup.is_file():
        raise BadBackup(f"{backup}: no such file")
    problems = check_file(backup)
    if problems != ["ok"]:
        raise BadBackup(f"{backup} is not a sound database: {'; '.join(problems[:3])}; try an older backup")
    database = settings.database_path
    with serve_lock(settings):
        database.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        incoming = database.with_name(database.name + ".restoring")
        incoming.unlink(missing_ok=True)
        try:
            # The backup API, not a file copy: a backup with a -wal beside it (the kept
            # `.before-restore-…` file after a crash, an operator's cp of the live files) holds
            # committed transactions in that -wal, which the check above read and a file copy drops.
            problems = copy_database(backup, incoming, settings.storage.busy_timeout_ms)
            if problems != ["ok"]:
                raise BadBackup(f"the copy of {backup} failed its integrity check: {'; '.join(problems[:3])}")
            _check_schema(incoming, backup)
            _check_unused(database, settings.storage.busy_timeout_ms)
            unread = _gather_deletions(database, settings.storage.busy_timeout_ms)
            journal = read_journal(journal_path(database))
            uncovered = unread is not None and not _written_since(journal_path(database), _taken(backup))
            replayed = asyncio.run(replay_deletions(settings, incoming, journal.entries, now))
            kept: Path | None = None
            stamp = now.strftime("%Y%m%dT%H%M%SZ")
            # A -wal left beside the old file belongs to the old file: applied to the restored one, it
            # would corrupt it. So the three move aside together.
            for suffix in ("", "-wal", "-shm"):
                current = database.with_name(database.name + suffix)
                if current.exists():
                    aside = database.with_name(f"{database.name}.before-restore-{stamp}{suffix}")
                    os.replace(current, aside)
                    if suffix == "":
                        kept = aside
            os.replace(incoming, database)
            _fsync_dir(database.parent)
        finally:
            for suffix in ("", "-wal", "-shm"):  # a failed copy or replay leaves nothing behind
                incoming.with_name(incoming.name + suffix).unlink(missing_ok=True)
    return Restored(
        kept, replayed, len(journal.entries), len(journal.bad), unread, uncovered, copies_kept(database)
    )


def _check_unused(database: Path, busy_timeout_ms: int) -> None:
    """Refuse while any other process has the database open (a madoguchi command, a sqlite3 shell, a
    backup copying it), not only `serve`: what it writes after the move would go to the file moved
    aside. In WAL mode every connection holds a shared lock for as long as it is open, so the
    exclusive one (locking_mode EXCLUSIVE, then BEGIN EXCLUSIVE) is only granted to a sole user.
    Closing it checkpoints the WAL into the file, which then moves aside on its own."""
    if not database.exists():
        return
    conn = sqlite3.connect(database, timeout=busy_timeout_ms / 1000, isolation_level=None)
    try:
        conn.execute("PRAGMA locking_mode = EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("ROLLBACK")
    except sqlite3.OperationalError as exc:
        if not _busy(exc):
            raise
        raise DatabaseInUse(
            f"{database} is open in another process (a madoguchi command, a sqlite3 shell, a backup "
            f"copying it): close it and restore again (fuser -v {database} shows which); nothing was changed"
        ) from None
    finally:
        conn.close()


def _check_schema(copy: Path, backup: Path) -> None:
    """Refuse a copy this madoguchi cannot run: an empty file or another program's database (both
    pass the integrity check), or one migrated by a newer madoguchi."""
    versions = recorded_versions(copy)
    if not versions:
        raise BadBackup(f"{backup} is not a madoguchi backup (it holds no madoguchi schema)")
    unknown = unknown_versions(versions)
    if unknown:
        raise BadBackup(
            f"{backup} was made by a newer madoguchi (migrations {unknown} are unknown to this one): "
            "restore it with that version, or pick an older backup"
        )


# -- deletions on request across restores --------------------------------------------------------------
#
# A backup taken before a citizen asked for deletion still holds their data. The bot appends each
# deletion to `<database>.deletions` when it makes it (bot/citizen.py), a file beside the database that
# no restore moves; `restore` also merges in the deletions the replaced database recorded (its audit
# log), and makes each again on the copy through the bot's own deletion path. Only the LINE user id
# and the time are kept: the database keeps the LINE user id after a deletion anyway. The file keeps
# deletions of earlier timelines too (a restore of an older copy, then of a newer one), and is what is
# left when the database itself is lost.


def _gather_deletions(database: Path, busy_timeout_ms: int) -> str | None:
    """Add the deletions recorded in `database` to its journal; returns why they could not be read
    (no database, or one damaged past reading), None when they were. Lines of the journal that could
    not be read stay as they are, after the others (restore has counted them)."""
    if not database.exists():
        return f"there is no database at {database}"
    try:
        found = deletions_in(database, busy_timeout_ms)
    except sqlite3.DatabaseError as exc:
        return str(exc)
    path = journal_path(database)
    journal = read_journal(path)
    lines = [journal_line(at, user).encode("utf-8") for at, user in sorted(journal.entries | set(found))]
    write_private(path, b"".join([*lines, *(raw + b"\n" for raw in journal.bad)]))
    return None


def _taken(backup: Path) -> datetime:
    """When the backup was taken: the time in its name, else its file's (a copy renamed by hand)."""
    if _NAME.match(backup.name):
        return taken_at(backup)
    return datetime.fromtimestamp(backup.stat().st_mtime, UTC)


def _written_since(journal: Path, moment: datetime) -> bool:
    """The journal was appended to (or put back) after `moment`: it then holds the deletions since,
    as the bot writes each when it is made. A journal untouched since is no proof there were none."""
    try:
        return datetime.fromtimestamp(journal.stat().st_mtime, UTC) > moment
    except FileNotFoundError:
        return False


async def replay_deletions(
    settings: Settings, path: Path, journal: set[tuple[datetime, str]], now: datetime
) -> int:
    """Make again, on the database at `path`, each deletion it does not reflect; returns how many."""
    texts = Texts.load()
    replayed = 0
    db = await Database.open(path, settings.storage.busy_timeout_ms)
    try:
        for at, line_user_id in sorted(journal):
            async with db.transaction() as tx:
                replayed += await _replay(tx, settings, texts, line_user_id, at, now)
    finally:
        await db.close()
    return replayed


async def _replay(
    tx: Repositories, settings: Settings, texts: Texts, line_user_id: str, at: datetime, now: datetime
) -> bool:
    user = await tx.users.by_line_id(line_user_id)
    # Not in this copy, or a citizen who came back after the deletion (what they gave since stays).
    if user is None or user.created_at > at:
        return False
    done = await tx.audit.for_subject("user", user.id)
    if any(e.action == "citizen.data_deleted" and e.at >= at for e in done):
        return False  # this copy was taken after the deletion
    # What the bot does on 削除 → はい, without the citizen's confirmation message: they had it.
    ctx = desk_context(settings, texts, now)
    reply, forgotten = await privacy.delete_on_request(user, tx, ctx, [], actor="system:restore")
    await queue_reply(tx, settings, line_user_id, reply, now)
    detail = {"deleted_at": at.isoformat(), "cases": list(forgotten.numbers)}
    await tx.audit.record("system:restore", "citizen.deletion_replayed", "user", user.id, now, detail)
    return True


def copies_kept(database: Path) -> list[Path]:
    """The `.before-restore-…` copies beside the database (their -wal/-shm not listed)."""
    prefix = f"{database.name}.before-restore-"
    return sorted(
        p
        for p in database.parent.iterdir()
        if p.name.startswith(prefix) and not p.name.endswith(("-wal", "-shm"))
    )
