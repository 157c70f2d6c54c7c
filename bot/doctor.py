"""`madoguchi doctor --config PATH`: is this installation ready to go live, and if not, what to fix.

It checks, in order, the configuration, the database (SQLite's integrity check, migrations), the LINE
channel access token (GET /v2/bot/info), the Slack bot token (auth.test) and, in Socket Mode, the
app-level token (apps.connections.open: a connection URL is issued, nothing connects to it), that the
bot is a member of every configured Slack channel, and that every ward center can be reached (a Slack
channel the bot is in, or a LINE group the account is in), and that other users of the machine cannot
read the database or the backups. It prints one row per check, with the fix
under each one that failed, and exits 2 if anything failed. It never prints a secret.
"""

from __future__ import annotations

import shlex
import sqlite3
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import aiohttp
from linebot.v3.messaging import ApiException
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.backup import PREFIX, backups_in
from bot.config import ConfigError, Settings, load_settings
from bot.line.api import REQUEST_TIMEOUT_SECONDS, LineApi
from bot.line_commands import platform_error
from bot.slack.errors import slack_error_code
from storage import Database
from storage.base import _busy
from storage.migrate import available_migrations

EXIT_OK = 0
EXIT_SOMETHING_WRONG = 2


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


class Doctor:
    def __init__(self, settings: Settings, config_path: str) -> None:
        self._settings = settings
        self._config = config_path
        self.checks: list[Check] = []
        self._bot_user: str | None = None  # from auth.test, for the channel checks
        self._bot_name = "madoguchi"

    def _add(self, name: str, ok: bool, detail: str, fix: str = "") -> None:
        self.checks.append(Check(name, ok, detail, fix))

    async def run(self) -> list[Check]:
        s = self._settings
        self._add(
            "configuration",
            True,
            f"{self._config}: {len(s.consultation.categories)} categories, {len(s.wards)} ward centers",
        )
        await self._database()
        self._permissions()
        await self._line()
        client = AsyncWebClient(token=s.slack.bot_token, base_url=s.slack.api_base_url, timeout=10)
        await self._slack_token(client)
        if s.slack.mode == "socket":
            await self._socket_mode()
        else:
            self._add(
                "Slack HTTP mode",
                True,
                "signing secret set; Slack must reach POST /slack/events over HTTPS",
            )
        await self._channels(client)
        self._wards()
        return self.checks

    # -- database ---------------------------------------------------------------------------------

    async def _database(self) -> None:
        path = self._settings.database_path
        migrate = f"madoguchi migrate --config {self._config}"
        if not path.exists():
            self._add(
                "database",
                False,
                f"no database at {path}",
                f"create it: {migrate} (serve also does it at start); check [storage] path",
            )
            return
        try:
            db = await Database.open(path, self._settings.storage.busy_timeout_ms, migrate=False)
            try:
                problems = await db.read.health.integrity_check()
                applied = await db.read.health.applied_migrations()
            finally:
                await db.close()
        except Exception as exc:
            if isinstance(exc, sqlite3.OperationalError) and _busy(exc):
                # Not the file's fault: another process held the lock past busy_timeout_ms.
                fix = (
                    "another process holds the database's lock (the bot in a long write, another "
                    f"madoguchi command, a backup, an open sqlite3 shell): run doctor again in a moment; "
                    f"if it stays locked, see which process holds it: fuser -v {path}"
                )
            else:
                fix = "check the file's permissions and the disk; else restore a backup (docs/going-live.md)"
            self._add("database", False, f"cannot open {path}: {exc}", fix)
            return
        if problems != ["ok"]:
            self._add(
                "database integrity",
                False,
                f"PRAGMA integrity_check: {'; '.join(problems[:3])}",
                "stop the bot and restore the latest backup: madoguchi restore FILE --config "
                f"{self._config} (docs/going-live.md, 'Recovery')",
            )
        else:
            self._add("database integrity", True, f"{path}: integrity_check ok")
        known = {m.version for m in available_migrations()}
        missing = sorted(known - applied)
        unknown = sorted(applied - known)
        if unknown:
            self._add(
                "database migrations",
                False,
                f"the database has migrations this madoguchi does not know: {unknown}",
                "run the madoguchi version that wrote it (or newer); never point an older one at it",
            )
        elif missing:
            self._add("database migrations", False, f"not applied yet: {missing}", f"run: {migrate}")
        else:
            self._add("database migrations", True, f"up to date ({len(applied)} applied)")

    def _permissions(self) -> None:
        """The database (and the files beside it), its folder, the backup folder and the backups:
        other users of the machine must not read them (a file made by an older madoguchi, or copied by
        hand, may be 0644). The group is not checked: the service's own (deploy/madoguchi.service)."""
        database = self._settings.database_path
        folder = self._settings.backup_folder
        found: list[str] = []  # what to give `chmod o-rwx`, as shell words
        if _open_to_others(database.parent):
            found.append(shlex.quote(str(database.parent)))
        beside = database.parent.iterdir() if database.parent.is_dir() else iter(())
        if any(p.name.startswith(database.name) and _open_to_others(p) for p in beside):
            found.append(shlex.quote(str(database)) + "*")  # -wal, -shm, the journal, kept copies
        if folder is not None:
            if _open_to_others(folder):
                found.append(shlex.quote(str(folder)))
            if any(_open_to_others(p) for p in backups_in(folder)):
                found.append(shlex.quote(str(folder / PREFIX)) + "*")
        if not found:
            self._add("file permissions", True, "the database and the backups: not open to other users")
            return
        self._add(
            "file permissions",
            False,
            f"other users of this machine can read the personal data: {' '.join(found)}",
            f"run: chmod o-rwx {' '.join(found)} (a folder that other programs use too: give madoguchi "
            "one of its own instead)",
        )

    # -- LINE ---------------------------------------------------------------------------------------

    async def _line(self) -> None:
        host = self._settings.line.api_base_url
        try:
            async with LineApi(self._settings.line) as api:
                info = await api.messaging.get_bot_info(_request_timeout=REQUEST_TIMEOUT_SECONDS)
        except ApiException as exc:
            fix = (
                "issue a channel access token (long-lived) in the LINE Developers console, Messaging API "
                "tab, and set it as [line] channel_access_token (LINE_CHANNEL_ACCESS_TOKEN)"
                if exc.status in (401, 403)
                else "see LINE's reason above; check [line] api_base_url"
            )
            self._add("LINE token", False, platform_error("the bot info", exc, host), fix)
            return
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._add(
                "LINE token",
                False,
                platform_error("the bot info", exc, host),
                "check this machine's network and [line] api_base_url (https://api.line.me)",
            )
            return
        mode = "" if info.chat_mode == "bot" else " (chat is on: LINE's own auto-replies may answer too)"
        self._add("LINE token", True, f"account {info.display_name} ({info.basic_id}){mode}")

    # -- Slack --------------------------------------------------------------------------------------

    async def _slack_token(self, client: AsyncWebClient) -> None:
        try:
            answer = await client.auth_test()
        except SlackApiError as exc:
            error = slack_error_code(exc) or "no error code"
            self._add(
                "Slack bot token",
                False,
                f"auth.test answered {error} ({self._settings.slack.api_base_url})",
                "copy the Bot User OAuth Token (xoxb-…) from the app's OAuth & Permissions page (install "
                "the app to the workspace first) into [slack] bot_token (SLACK_BOT_TOKEN)",
            )
            return
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._add(
                "Slack bot token",
                False,
                f"could not reach Slack at {self._settings.slack.api_base_url}: {type(exc).__name__}",
                "check this machine's network and [slack] api_base_url (https://slack.com/api/)",
            )
            return
        self._bot_user = str(answer.get("user_id"))
        self._bot_name = str(answer.get("user"))
        self._add(
            "Slack bot token",
            True,
            f"bot @{answer.get('user')} ({self._bot_user}) in workspace {answer.get('team')}",
        )

    async def _socket_mode(self) -> None:
        s = self._settings.slack
        client = AsyncWebClient(token=s.app_token, base_url=s.api_base_url, timeout=10)
        fix = (
            "turn Socket Mode on (app settings, Socket Mode) and generate an app-level token with the "
            "connections:write scope (Basic Information, App-Level Tokens); set it as [slack] app_token "
            "(SLACK_APP_TOKEN, starts with xapp-)"
        )
        try:
            await client.apps_connections_open(app_token=s.app_token)
        except SlackApiError as exc:
            error = slack_error_code(exc) or "no error code"
            self._add("Slack Socket Mode", False, f"apps.connections.open answered {error}", fix)
            return
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._add(
                "Slack Socket Mode",
                False,
                f"could not reach Slack at {s.api_base_url}: {type(exc).__name__}",
                "check this machine's network",
            )
            return
        self._add("Slack Socket Mode", True, "the app-level token opens a connection")

    def _configured_channels(self) -> dict[str, list[str]]:
        """Every Slack channel the configuration names, with the keys that name it."""
        s = self._settings
        named: dict[str, list[str]] = {}
        pairs = [
            ("[slack] default_channel", s.slack.default_channel),
            ("[slack] escalation_channel", s.slack.escalation_channel),
            ("[slack] ops_channel", s.slack.ops_channel),
            ("[slack] events_channel", s.slack.events_channel),
            ("[ward_notices] staff_channel", s.ward_notices.staff_channel),
            *((f"category {c.id}", c.channel) for c in s.consultation.categories),
            *((f"ward {w.ward}", w.slack_channel) for w in s.wards),
        ]
        for key, channel in pairs:
            if channel:
                named.setdefault(channel, []).append(key)
        return named

    def _personal_channels(self) -> set[str]:
        """Channels that show personal data to everyone in them: the case channels (cards, threads)
        and the events channel (the day-before list names registrants)."""
        s = self._settings
        found = {s.slack.default_channel, s.slack.events_channel}
        found |= {s.channel_for(c.id) for c in s.consultation.categories}
        return {c for c in found if c}

    async def _channels(self, client: AsyncWebClient) -> None:
        channels = self._configured_channels()
        personal = self._personal_channels()
        if self._bot_user is None:
            self._add(
                "Slack channels",
                False,
                f"{len(channels)} channel(s) not checked: the bot token does not work",
                "fix the Slack bot token first",
            )
            return
        invite = f"in the channel, type: /invite @{self._bot_name}"
        for channel, keys in channels.items():
            name = f"channel {channel}"
            used = ", ".join(keys)
            try:
                answer = await client.conversations_info(channel=channel)
            except SlackApiError as exc:
                error = slack_error_code(exc) or "no error code"
                fix = (
                    f"check the id (channel details, at the bottom: C…); a private channel shows as not "
                    f"found until the bot is invited: {invite}"
                    if error == "channel_not_found"
                    else "add the channels:read and groups:read scopes (deploy/slack-manifest.json) and "
                    "reinstall the app"
                    if error == "missing_scope"
                    else f"Slack answered {error}"
                )
                self._add(name, False, f"{used}: conversations.info answered {error}", fix)
                continue
            except (aiohttp.ClientError, TimeoutError) as exc:
                self._add(name, False, f"{used}: {type(exc).__name__}", "check this machine's network")
                continue
            info = answer.get("channel") or {}
            label = f"#{info.get('name', channel)}"
            if info.get("is_archived"):
                self._add(name, False, f"{label} ({used}) is archived", "unarchive it or configure another")
            elif not info.get("is_member"):
                self._add(name, False, f"the bot is not a member of {label} ({used})", invite)
            elif channel in personal and not info.get("is_private"):
                self._add(
                    name,
                    False,
                    f"{label} ({used}) is public: everyone in the workspace can read the personal data "
                    "posted there",
                    "make it a private channel with center staff only (channel settings: change to a "
                    "private channel)",
                )
            else:
                self._add(name, True, f"{label} ({used}): the bot is a member")

    # -- ward centers -------------------------------------------------------------------------------

    def _wards(self) -> None:
        wards = self._settings.wards
        missing = [w.ward for w in wards if not w.slack_channel and not w.line_group_id]
        if missing:
            self._add(
                "ward centers",
                False,
                f"{len(missing)} of {len(wards)} have no channel: {', '.join(missing)}",
                "give each [[wards]] entry a slack_channel (a channel id, with the bot invited) or a "
                "line_group_id (the LINE group the account was invited to)",
            )
        else:
            self._add("ward centers", True, f"all {len(wards)} have a Slack channel or a LINE group")


def _open_to_others(path: Path) -> bool:
    try:
        return bool(stat.S_IMODE(path.stat().st_mode) & (stat.S_IROTH | stat.S_IWOTH))
    except OSError:
        return False  # not there (or not ours to see): nothing to protect, or reported elsewhere


def print_table(checks: list[Check], out: TextIO) -> None:
    width = max((len(c.name) for c in checks), default=10)
    for check in checks:
        mark = "ok " if check.ok else "FIX"
        out.write(f"{mark}  {check.name.ljust(width)}  {check.detail}\n")
        if not check.ok and check.fix:
            out.write(f"     {' ' * width}  -> {check.fix}\n")
    failed = sum(not c.ok for c in checks)
    out.write(
        f"\n{len(checks) - failed} fine, {failed} to fix\n" if failed else f"\nall {len(checks)} fine\n"
    )


async def doctor(config_path: str, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        settings = load_settings(Path(config_path))
    except ConfigError as exc:
        print_table(
            [
                Check(
                    "configuration",
                    False,
                    str(exc),
                    f"edit the file, then: madoguchi check-config {config_path}",
                )
            ],
            out,
        )
        return EXIT_SOMETHING_WRONG
    checks = await Doctor(settings, config_path).run()
    print_table(checks, out)
    return EXIT_OK if all(c.ok for c in checks) else EXIT_SOMETHING_WRONG
