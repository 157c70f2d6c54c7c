"""The `madoguchi` command line. Bad configuration or input exits 2 with one clear message."""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

from bot import __version__
from bot.announce import announce_command
from bot.backup import BackupError, BadBackup, restore, serve_lock, take_backup
from bot.case_export import OutputError, export_cases, export_stats
from bot.citizen_export import UnknownCitizen, export_citizen
from bot.clock import utc_now
from bot.config import ConfigError, Settings, load_settings
from bot.event_digest import survey_report
from bot.event_import import EventFileError, import_events, list_events, report_events
from bot.line_commands import line_quota, line_richmenu
from bot.logs import setup_logging
from bot.queue_commands import DEFAULT_HOURS, MAX_HOURS, inbox_retry, outbox_retry
from bot.service import serve
from bot.ward_commands import WardInputError, notices_send, wards_link, wards_list
from storage import Database
from storage.base import _busy
from storage.deletions import journal_path
from storage.migrate import NewerSchema

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1
# sysexits' EX_TEMPFAIL: the database was busy; the same command may simply be run again.
EXIT_BUSY = 75
# 128 + SIGPIPE, as a shell reports a command that a closed pipe ended.
EXIT_BROKEN_PIPE = 141
# SQLite's primary codes for a database file this user cannot open or write, or that is no database.
CANNOT_OPEN = {
    sqlite3.SQLITE_CANTOPEN: "check that it and its folder belong to the user running madoguchi (a file "
    "made by `sudo madoguchi ...` is root's: chown it, or run commands as the service user) and that the "
    "disk is not read-only",
    sqlite3.SQLITE_PERM: "check the owner and mode of it and its folder",
    sqlite3.SQLITE_READONLY: "it is read-only for this user: check the owner and mode of it, its -wal and "
    "-shm files and its folder, and that the disk is not mounted read-only",
    sqlite3.SQLITE_NOTADB: "it is not a SQLite database: check [storage] path, or restore a backup",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="madoguchi", description="LINE and Slack desk of a civic support center"
    )
    parser.add_argument("--version", action="version", version=f"madoguchi {__version__}")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("serve", help="run the bot: webhook server, workers and scheduler")
    run.add_argument("--config", required=True, metavar="PATH")

    demo = commands.add_parser(
        "demo", help="the whole center on this machine: fake LINE and Slack, one web page"
    )
    demo.add_argument(
        "--port", type=int, default=8080, help="port of the page (default 8080; 0 = any free port)"
    )
    demo.add_argument(
        "--host", default="127.0.0.1", help="loopback only: 127.0.0.1 (default), localhost or ::1"
    )

    check = commands.add_parser("check-config", help="validate a configuration file")
    # Both spellings: `check-config PATH` (the original) and `--config PATH` like every other command.
    check.add_argument("path", metavar="PATH", nargs="?")
    check.add_argument("--config", metavar="PATH", dest="config_path")

    migrate = commands.add_parser("migrate", help="bring the database schema up to date")
    migrate.add_argument("--config", required=True, metavar="PATH")

    doctor = commands.add_parser(
        "doctor", help="check configuration, database, LINE and Slack tokens, channels: what to fix"
    )
    doctor.add_argument("--config", required=True, metavar="PATH")

    backup = commands.add_parser("backup", help="copy the database now (safe while the bot runs)")
    backup.add_argument("--config", required=True, metavar="PATH")
    backup.add_argument("--to", metavar="FOLDER", help="into this folder instead of [backup] folder")
    restore = commands.add_parser("restore", help="put a backup in place of the database (bot stopped)")
    restore.add_argument("file", metavar="FILE")
    restore.add_argument("--config", required=True, metavar="PATH")

    line = commands.add_parser("line", help="LINE account tasks").add_subparsers(
        dest="line_command", required=True, metavar="TASK"
    )
    quota = line.add_parser("quota", help="this month's push quota and consumption")
    quota.add_argument("--config", required=True, metavar="PATH")
    richmenu = line.add_parser("richmenu", help="install the rich menu as every user's default")
    richmenu.add_argument("--config", required=True, metavar="PATH")

    cases = commands.add_parser("cases", help="consultations: exports").add_subparsers(
        dest="cases_command", required=True, metavar="TASK"
    )
    export = cases.add_parser("export", help="every case as CSV (personal data: handle with care)")
    stats = cases.add_parser("stats", help="counts by month and category as CSV (no personal data)")
    for task in (export, stats):
        task.add_argument("--config", required=True, metavar="PATH")
        task.add_argument("--output", metavar="FILE", help="write here instead of standard output")

    citizen = commands.add_parser("citizen", help="one citizen's data").add_subparsers(
        dest="citizen_command", required=True, metavar="TASK"
    )
    disclose = citizen.add_parser(
        "export", help="everything kept about one citizen as CSV, for a request for disclosure (開示請求)"
    )
    which = disclose.add_mutually_exclusive_group(required=True)
    which.add_argument("--case", metavar="NUMBER", help="found by one of their case numbers, e.g. 2026-0042")
    which.add_argument("--line-user", metavar="ID", help="found by their LINE user id")
    disclose.add_argument("--config", required=True, metavar="PATH")
    disclose.add_argument("--output", metavar="FILE", help="write here instead of standard output")

    events = commands.add_parser("events", help="events: import, list, report, survey").add_subparsers(
        dest="events_command", required=True, metavar="TASK"
    )
    events_import = events.add_parser("import", help="add or update events from a CSV or iCalendar file")
    events_import.add_argument("file", metavar="FILE")
    events_list = events.add_parser("list", help="upcoming events, in the center's time")
    announce = events.add_parser("announce", help="announce an event to the citizens who chose its kind")
    announce.add_argument("event_id", metavar="EVENT_ID", type=int)
    announce.add_argument("--config", required=True, metavar="PATH")
    announce.add_argument("--yes", action="store_true", help="send without asking first")
    events_report = events.add_parser("report", help="counts per month and kind as CSV (no personal data)")
    events_report.add_argument("--output", metavar="FILE", help="write here instead of standard output")
    events_survey = events.add_parser("survey", help="one event's questionnaire counts as CSV")
    events_survey.add_argument("event_id", metavar="EVENT_ID")
    events_survey.add_argument("--output", metavar="FILE", help="write here instead of standard output")
    for task in (events_import, events_list, events_report, events_survey):
        task.add_argument("--config", required=True, metavar="PATH")

    wards = commands.add_parser("wards", help="ward centers: their channels and LINE groups").add_subparsers(
        dest="wards_command", required=True, metavar="TASK"
    )
    wards_link = wards.add_parser("link", help="link a LINE group the bot joined to its ward")
    wards_link.add_argument("ward", metavar="WARD")
    wards_link.add_argument("group_id", metavar="GROUP_ID")
    wards_list = wards.add_parser("list", help="each ward's Slack channel and LINE group")
    for task in (wards_link, wards_list):
        task.add_argument("--config", required=True, metavar="PATH")
    notices = commands.add_parser("notices", help="network-meeting notices to the wards").add_subparsers(
        dest="notices_command", required=True, metavar="TASK"
    )
    send = notices.add_parser("send", help="send a notice to every ward (times in the center's timezone)")
    send.add_argument("--config", required=True, metavar="PATH")
    send.add_argument("--title", required=True)
    send.add_argument("--at", required=True, metavar="TIME", help="the meeting, e.g. 2026-12-01 14:00")
    send.add_argument("--deadline", required=True, metavar="TIME", help="answers by, e.g. 2026-11-24 17:00")
    send.add_argument("--venue")
    send.add_argument("--url", metavar="URL", help="to join online")
    send.add_argument("--agenda-file", metavar="FILE", help="the agenda, UTF-8 text")
    send.add_argument("--materials", metavar="URL", help="a link to the materials")

    for queue, what in (("inbox", "events that failed for good"), ("outbox", "failed and dead messages")):
        tasks = commands.add_parser(queue, help=f"the {queue} queue").add_subparsers(
            dest=f"{queue}_command", required=True, metavar="TASK"
        )
        retry = tasks.add_parser("retry", help=f"put {what} back in line, once the cause is fixed")
        retry.add_argument("--config", required=True, metavar="PATH")
        retry.add_argument(
            "--hours", type=_positive, default=DEFAULT_HOURS, help="only what failed within this many hours"
        )
    return parser


def _config_path(args: argparse.Namespace) -> str | None:
    """check-config's file, given either way; None when none or two different ones were given."""
    given = {p for p in (args.path, args.config_path) if p is not None}
    return given.pop() if len(given) == 1 else None


def _positive(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = 0.0
    # Bounded: inf or 1e9 hours would overflow the date arithmetic (a traceback, not an answer).
    if not 0 < number <= MAX_HOURS:
        raise argparse.ArgumentTypeError(
            f"must be a number of hours above 0 and at most {MAX_HOURS}, not {value!r}"
        )
    return number


def main(argv: Sequence[str] | None = None) -> int:
    # Whatever a command creates (the database and its -wal/-shm, backups, a restored database, the
    # lock) is for this user only, also when run from a shell or a container with umask 0022.
    previous = os.umask(0o077)
    try:
        return _run(argv)
    except BrokenPipeError:
        # The reader went away (`madoguchi wards list | head`): end quietly, as `cat` does. Output
        # still buffered would fail again at exit: stdout points at /dev/null from here on.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    finally:
        os.umask(previous)  # for a caller in the same process (tests)


def _run(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    setup_logging(args.log_level)
    database: Path | None = None  # named in an error about the database once known
    try:
        if args.command == "check-config":
            path = _config_path(args)
            if path is None:
                print(
                    "error: check-config: give one configuration file: "
                    "check-config PATH or check-config --config PATH",
                    file=sys.stderr,
                )
                return EXIT_BAD_INPUT
            settings = load_settings(path)
            print(
                f"{path}: OK ({len(settings.consultation.categories)} categories, "
                f"{len(settings.wards)} ward centers)"
            )
            return 0
        if args.command == "demo":
            return _demo(args.host, args.port)
        if args.command == "doctor":
            from bot.doctor import doctor

            return asyncio.run(doctor(args.config))
        settings = load_settings(args.config)
        database = settings.database_path
        if args.command == "migrate":
            return asyncio.run(_migrate(settings))
        if args.command == "serve":
            # Held while serving: `restore` refuses while it cannot take it.
            with serve_lock(settings):
                asyncio.run(serve(settings))
            return 0
        if args.command == "backup":
            return _backup(settings, args.to)
        if args.command == "restore":
            return _restore(settings, Path(args.file), args.config)
        if args.command == "cases":
            export = export_cases if args.cases_command == "export" else export_stats
            return asyncio.run(export(settings, args.output))
        if args.command == "citizen":
            return asyncio.run(export_citizen(settings, args.case, args.line_user, args.output))
        if args.command == "events":
            if args.events_command == "announce":
                return asyncio.run(announce_command(settings, args.event_id, args.yes))
            if args.events_command == "import":
                return asyncio.run(import_events(settings, args.file))
            if args.events_command == "list":
                return asyncio.run(list_events(settings))
            if args.events_command == "survey":
                return asyncio.run(survey_report(settings, args.event_id, args.output))
            return asyncio.run(report_events(settings, args.output))
        if args.command == "wards":
            if args.wards_command == "link":
                return asyncio.run(wards_link(settings, args.ward, args.group_id))
            return asyncio.run(wards_list(settings))
        if args.command == "notices":
            values = {name: getattr(args, name) for name in ("title", "at", "deadline", "venue", "url")}
            values["materials"] = args.materials
            return asyncio.run(notices_send(settings, values, args.agenda_file))
        if args.command == "inbox":
            return asyncio.run(inbox_retry(settings, args.hours))
        if args.command == "outbox":
            return asyncio.run(outbox_retry(settings, args.hours))
        if args.command == "line":
            task = line_quota if args.line_command == "quota" else line_richmenu
            return asyncio.run(task(settings))
    except (
        ConfigError,
        OutputError,
        EventFileError,
        WardInputError,
        BadBackup,
        NewerSchema,
        UnknownCitizen,
    ) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except sqlite3.Error as exc:
        cause = CANNOT_OPEN.get(getattr(exc, "sqlite_errorcode", 0) & 0xFF)
        if database is not None and cause is not None:
            # Exit 2, not 1: the unit does not restart for ever on what only a person can fix.
            print(f"error: cannot use the database {database}: {exc}: {cause}", file=sys.stderr)
            return EXIT_BAD_INPUT
        if not _locked(exc):
            raise
        # Every command ends here, not with a traceback; the message is SQLite's, never data.
        print(
            "error: the database is locked: another madoguchi (the running bot, another command) or a "
            "backup held it longer than [storage] busy_timeout_ms; try again in a moment",
            file=sys.stderr,
        )
        return EXIT_BUSY
    except OSError as exc:
        # The database's folder or file cannot be made: a path under a file, a folder of root's.
        if (
            database is None
            or exc.filename is None
            or Path(exc.filename) not in (database, *database.parents)
        ):
            raise
        # mkdir says "File exists" of a file where a folder should be: named plainly instead.
        what = "not a folder" if isinstance(exc, FileExistsError | NotADirectoryError) else exc.strerror
        print(
            f"error: cannot use the database {database}: {exc.filename}: {what}: check [storage] path, "
            "and that its folder belongs to the user running madoguchi",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    raise AssertionError(f"unhandled command {args.command}")


def _locked(exc: Exception) -> bool:
    """Another connection held the database's lock longer than [storage] busy_timeout_ms."""
    return isinstance(exc, sqlite3.OperationalError) and _busy(exc)


def _demo(host: str, port: int) -> int:
    from bot.demo.server import LoopbackOnly, check_host, run_demo

    try:
        check_host(host)
        asyncio.run(run_demo(host, port))
    except LoopbackOnly as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:
        print(f"error: cannot serve the demo on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


def _backup(settings: Settings, to: str | None) -> int:
    folder = Path(to) if to else settings.backup_folder
    if folder is None:
        print("error: [backup] folder is empty: give one with --to FOLDER", file=sys.stderr)
        return EXIT_BAD_INPUT
    keep = settings.backup.keep
    try:
        path = take_backup(settings.database_path, folder, utc_now(), keep, settings.storage.busy_timeout_ms)
    except (OSError, sqlite3.Error) as exc:
        if _locked(exc):
            raise
        raise BackupError(f"cannot back up {settings.database_path} into {folder}: {exc}") from None
    print(f"backup written: {path} ({path.stat().st_size:,} bytes; the newest {keep} are kept)")
    return 0


def _restore(settings: Settings, backup: Path, config: str) -> int:
    try:
        done = restore(settings, backup, utc_now())
    except (OSError, sqlite3.Error) as exc:
        if _locked(exc):
            raise
        raise BackupError(f"cannot restore {backup}: {exc}") from None
    print(f"restored {backup} as {settings.database_path}")
    print(f"deletions on request made again on it: {done.replayed} (of {done.journal} on record)")
    journal = journal_path(settings.database_path)
    if done.skipped:
        print(
            f"warning: {done.skipped} line(s) of {journal} could not be read (left in it as they are): "
            "a deletion they hold was not made again; see docs/privacy.md"
        )
    if done.uncovered:
        print(
            f"warning: the deletions recorded in the replaced database could not be read ({done.unread}), "
            f"and {journal} was not written since the backup was taken: a citizen who asked for deletion "
            "after the backup may be back; see docs/privacy.md"
        )
    elif done.unread is not None:
        print(
            f"the deletions recorded in the replaced database could not be read ({done.unread}); "
            f"those in {journal}, written since the backup was taken, were made again"
        )
    if done.kept is not None:
        print(f"the database it replaced is kept as {done.kept}")
    if done.copies:
        # They hold data that citizens may since have had deleted: not to be kept for long.
        listed = " ".join(str(p) + "*" for p in done.copies)
        print(f"once all is well, delete the copies kept by restores (they hold deleted data): rm {listed}")
    print(
        f"next: start the bot (systemctl start madoguchi), then: madoguchi doctor --config {shlex.quote(config)}"
    )
    return 0


async def _migrate(settings: Settings) -> int:
    db = await Database.open(settings.database_path, settings.storage.busy_timeout_ms, migrate=False)
    try:
        applied = await db.migrate()
    finally:
        await db.close()
    print(f"applied migrations: {applied}" if applied else "database is up to date")
    return 0
