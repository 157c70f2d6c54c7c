"""`madoguchi wards link|list` and `madoguchi notices send`: the ward centers from the command line.

Bad input exits 2 with one message naming the field (`--deadline: must not be after the meeting`),
the ward, or the group id; nothing is written then. A notice sent here is queued in the database: the
running bot (`serve`) delivers it, within half a minute.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from bot.clock import utc_now
from bot.config import LINE_GROUP_ID, Settings
from bot.event_import import FieldError
from bot.notices import MAX_AGENDA, Notices, draft_from_fields
from flows.texts import Texts
from storage import Database
from storage.wards import WardCenterSpec

MAX_AGENDA_FILE_BYTES = 64 * 1024


class WardInputError(Exception):
    """Input that cannot be used: the message says what and where."""


async def _open(settings: Settings) -> Database:
    db = await Database.open(settings.database_path, settings.storage.busy_timeout_ms)
    try:
        async with db.transaction() as tx:
            await tx.wards.sync(
                [WardCenterSpec(w.ward, w.name, w.slack_channel, w.line_group_id) for w in settings.wards]
            )
    except BaseException:
        # An open Database's aiosqlite threads keep the process alive: the command would never exit.
        await db.close()
        raise
    return db


def _ward_named(settings: Settings, name: str) -> str:
    """The configured ward a name means: 旭区, or 旭 for short."""
    wanted = name.strip()
    for ward in settings.wards:
        if wanted in (ward.ward, ward.ward.removesuffix("区")):
            return ward.ward
    known = "、".join(w.ward for w in settings.wards) or "none configured"
    raise WardInputError(f"unknown ward {name!r} (the wards in [[wards]]: {known})")


async def wards_link(settings: Settings, ward_name: str, group_id: str) -> int:
    ward = _ward_named(settings, ward_name)
    if not LINE_GROUP_ID.fullmatch(group_id):
        raise WardInputError(
            f"{group_id!r} is not a LINE group id (C and 32 hexadecimal digits, as the staff channel was told)"
        )
    configured = next(w for w in settings.wards if w.ward == ward)
    if configured.line_group_id and configured.line_group_id != group_id:
        raise WardInputError(
            f"{ward}: the configuration names the group {configured.line_group_id}; "
            'change line_group_id there (it wins over a link), or set it to "" to link here'
        )
    db = await _open(settings)
    try:
        async with db.transaction() as tx:
            others = [w.ward for w in await tx.wards.on_line_group(group_id) if w.ward != ward]
            if others:
                raise WardInputError(
                    f"the group {group_id} is already linked to {'、'.join(others)}"
                    " (to move it, name it as line_group_id of this ward in the configuration)"
                )
            await tx.wards.set_line_group(ward, group_id)
        group = await db.read.line_groups.get(group_id)
    finally:
        await db.close()
    print(f"{ward}: linked to the LINE group {group_id}")
    if group is None or not group.member:
        print("note: the bot is not in this group now; invite it, or notices to it will fail")
    return 0


async def wards_list(settings: Settings) -> int:
    db = await _open(settings)
    try:
        rows = []
        for ward in await db.read.wards.configured([w.ward for w in settings.wards]):
            line = "-"
            if ward.line_group_id:
                group = await db.read.line_groups.get(ward.line_group_id)
                # "no join seen": configured before the bot was invited, or joined before 0017.
                state = "no join seen" if group is None else "joined" if group.member else "the bot left"
                line = f"{ward.line_group_id} ({state})"
            rows.append((ward.ward, ward.slack_channel or "-", line))
    finally:
        await db.close()
    print("ward\tslack channel\tLINE group")
    for row in rows:
        print("\t".join(row))
    linked = sum(1 for _, slack, line in rows if slack != "-" or line != "-")
    print(f"{len(rows)} wards, {linked} with a channel or group")
    return 0


def _agenda(path: str | None) -> str:
    if path is None:
        return ""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise WardInputError(
            f"--agenda-file: cannot read {path}: {exc.strerror or type(exc).__name__}"
        ) from None
    if len(data) > MAX_AGENDA_FILE_BYTES:
        raise WardInputError(f"--agenda-file: {path} is larger than {MAX_AGENDA} characters allow")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise WardInputError(f"--agenda-file: {path} is not UTF-8 text") from None


async def notices_send(settings: Settings, values: Mapping[str, str | None], agenda_file: str | None) -> int:
    fields = {k: v for k, v in values.items() if v is not None}
    fields["agenda"] = _agenda(agenda_file)
    now = utc_now()
    try:
        draft = draft_from_fields(fields, settings, now)
    except FieldError as exc:
        flag = "agenda-file" if exc.field == "agenda" else exc.field
        raise WardInputError(f"--{flag}: {exc.message}") from None
    db = await _open(settings)
    try:
        async with db.transaction() as tx:
            notice = await Notices(settings, Texts.load()).send(tx, draft, "cli", now)
            wards = len(await tx.notices.recipients(notice.id)) if notice is not None else 0
    finally:
        await db.close()
    if notice is None:
        raise WardInputError("no ward has a Slack channel or a LINE group: set them in [[wards]] first")
    print(
        f"notice {notice.id} queued for {wards} wards; the running bot delivers it and keeps the answer "
        f"sheet in {settings.notices_channel}"
    )
    return 0
