"""`madoguchi citizen export`: everything madoguchi keeps about one citizen, for their request for
disclosure (開示請求), and nothing about anyone else.

The citizen is found by one of their case numbers (as staff see it: 2026-0042) or by their LINE user id.
One CSV, in the form of `madoguchi cases export` (bot/case_export.py: UTF-8 with a BOM, formulas
neutralised, 0600, written atomically, audited before it is written), with a 区分 column that a clerk
filters on in Excel: the user record, each case's fields, every message of every case (the staff's
internal notes in a section of their own), event sign-ups, questionnaire answers, announcement settings
and a conversation in progress. Headers and labels are in flows/texts/ja.toml (`[citizen_export]`);
what is in it, what is not and why: docs/privacy.md.
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime

from bot.case_export import case_columns, local_time, record_export, write_csv
from bot.config import Settings
from flows.texts import Texts
from storage import Database
from storage.cases import Case, CaseMessage
from storage.conversations import Conversation
from storage.events import Event
from storage.questionnaire import GivenAnswer, Survey
from storage.registrations import Registration
from storage.repositories import Repositories
from storage.slots import Slot
from storage.users import User

# 2026-0042 as staff see it, with a leading # or an unpadded sequence (2026-42), NFKC'd first so
# that full-width digits and ＃ typed on a Japanese keyboard match.
_NUMBER = re.compile(r"#?\s*(\d{4})-(\d{1,6})")
# Case fields a disclosure leaves out: the number has a column of its own; the assignee is a staff
# member's Slack id (their data, not the citizen's).
_LEFT_OUT = {"number", "assignee"}
_MESSAGE_KINDS = ("text", "image", "video", "audio", "file", "unsent")


class UnknownCitizen(Exception):
    """No case with that number, or no citizen with that LINE user id (exit 2)."""


def case_number(text: str) -> str:
    """The stored form of a case number as staff type it; UnknownCitizen when it is not one."""
    match = _NUMBER.fullmatch(unicodedata.normalize("NFKC", text).strip())
    if match is None:
        raise UnknownCitizen(f"not a case number: {text[:40]!a}; give it as staff see it, e.g. 2026-0042")
    return f"{match[1]}-{int(match[2]):04d}"


@dataclass
class Held:
    """What is kept about the citizen (about one case only, for a case not linked to a LINE user)."""

    user: User | None
    cases: list[tuple[Case, list[CaseMessage]]] = field(default_factory=list)
    # Each sign-up with its event, the slot it holds and its place on the waitlist.
    registrations: list[tuple[Registration, Event | None, Slot | None, int | None]] = field(
        default_factory=list
    )
    answers: list[tuple[GivenAnswer, Event | None, Survey | None]] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    stopped: bool = False
    conversation: Conversation | None = None

    def empty(self) -> bool:
        """Nothing about the person: what a deletion on request leaves (the LINE id and follow state)."""
        user = self.user
        personal = user is not None and (user.display_name or user.privacy_agreed_at)
        return not (
            personal
            or self.cases
            or self.registrations
            or self.answers
            or self.kinds
            or self.stopped
            or self.conversation
        )

    def counts(self) -> dict[str, int]:
        return {
            "cases": len(self.cases),
            "messages": sum(len(messages) for _, messages in self.cases),
            "registrations": len(self.registrations),
            "answers": len(self.answers),
        }


async def _held_by(user: User, read: Repositories) -> Held:
    held = Held(user)
    for case in await read.cases.for_user(user.id):
        held.cases.append((case, await read.cases.messages(case.id)))
    for registration in await read.registrations.for_user(user.id):
        event = await read.events.get(registration.event_id)
        slot = None if registration.slot_id is None else await read.slots.get(registration.slot_id)
        place = await read.registrations.position(registration)
        held.registrations.append((registration, event, slot, place))
    surveys: dict[int, tuple[Event | None, Survey | None]] = {}
    for answer in await read.questionnaire.answers_of(user.id):
        if answer.event_id not in surveys:
            event_id = answer.event_id
            surveys[event_id] = (await read.events.get(event_id), await read.questionnaire.survey(event_id))
        held.answers.append((answer, *surveys[answer.event_id]))
    held.kinds = sorted(await read.subscriptions.kinds(user.id))
    held.stopped = await read.subscriptions.stopped(user.id)
    held.conversation = await read.conversations.get(user.id)
    return held


async def _deleted_at(user: User, read: Repositories) -> datetime | None:
    """When the citizen's data was last deleted on their request (削除), if ever."""
    entries = await read.audit.for_subject("user", user.id)
    deleted = [e.at for e in entries if e.action == "citizen.data_deleted"]
    return deleted[-1] if deleted else None


def _rows(held: Held, settings: Settings, texts: Texts) -> list[list[object]]:
    tz = settings.center.tz

    def text(key: str, **values: object) -> str:
        return texts.get(f"citizen_export.{key}", **values)

    def row(section: str, number: str, at: datetime | None, item: str, kind: str, content: object) -> None:
        rows.append([text(f"section_{section}"), number, local_time(at, tz), item, kind, content])

    rows: list[list[object]] = [[text(key) for key in ("section", "number", "at", "item", "kind", "content")]]
    user = held.user
    if user is not None:
        row("user", "", user.created_at, text("line_user_id"), "", user.line_user_id)
        if user.display_name is not None:
            row("user", "", user.display_name_fetched_at, text("display_name"), "", user.display_name)
        row(
            "user",
            "",
            None,
            text("following"),
            "",
            text("following_yes" if user.following else "following_no"),
        )
        if user.followed_at is not None:
            row("user", "", user.followed_at, text("followed_at"), "", "")
        if user.unfollowed_at is not None:
            row("user", "", user.unfollowed_at, text("unfollowed_at"), "", "")
        if user.privacy_agreed_at is not None:
            agreed = user.privacy_notice_version or ""
            row("user", "", user.privacy_agreed_at, text("privacy_agreed"), "", agreed)
    labels = {kind.id: kind.label for kind in settings.events.kinds}
    for kind in held.kinds:
        row("subscriptions", "", None, text("subscribed"), "", labels.get(kind, kind))
    if held.stopped:
        row("subscriptions", "", None, text("stopped"), "", text("stopped_now"))
    if held.conversation is not None:
        conversation = held.conversation
        data = json.dumps(conversation.data, ensure_ascii=False)
        row("conversation", "", conversation.updated_at, conversation.flow, "", data)

    columns = [(key, value) for key, value in case_columns(settings, texts) if key not in _LEFT_OUT]
    directions = {"citizen": "from_citizen", "reply": "reply", "note": "note", "system": "system"}
    numbers: dict[int, str] = {}
    for case, messages in held.cases:
        numbers[case.id] = case.number
        for key, value in columns:
            row("case", case.number, None, texts.get(f"export.{key}"), "", value(case))
        for message in messages:
            section = "note" if message.direction == "note" else "message"
            kind = text(f"kind_{message.kind}") if message.kind in _MESSAGE_KINDS else message.kind
            item = text(directions[message.direction])
            row(section, case.number, message.created_at, item, kind, message.body)

    for registration, event, slot, place in held.registrations:
        status = registration.status
        state = text("waitlisted", position=place or "") if status == "waitlisted" else text(status)
        details = [text("party", count=registration.party_size)]
        if event is not None:
            details.insert(0, text("held", when=local_time(event.starts_at, tz)))
        if slot is not None:
            details.append(text("slot", when=local_time(slot.starts_at, tz)))
        number = numbers.get(registration.case_id or 0, "")
        title = "" if event is None else event.title
        row("registration", number, registration.created_at, title, state, "、".join(details))

    for answer, event, survey in held.answers:
        title = "" if event is None else event.title
        question, choice = "", str(answer.choice)
        if survey is not None and answer.question <= len(survey.questions):
            asked = survey.questions[answer.question - 1]
            question = asked.text
            if answer.choice <= len(asked.choices):
                choice = asked.choices[answer.choice - 1]
        item = text("question", title=title, number=answer.question, question=question)
        row("answer", "", answer.answered_at, item, "", choice)
    return rows


async def _find(
    read: Repositories, number: str | None, line_user_id: str | None
) -> tuple[User | None, Case | None]:
    """The citizen (None for a case not linked to a LINE user) and the case they were found by."""
    if number is not None:
        wanted = case_number(number)
        case = await read.cases.by_number(wanted)
        if case is None:
            raise UnknownCitizen(f"no case {wanted}")
        return (None if case.user_id is None else await read.users.get(case.user_id)), case
    assert line_user_id is not None
    user = await read.users.by_line_id(line_user_id)
    if user is None:
        raise UnknownCitizen(f"no citizen with LINE user id {line_user_id[:64]!a}")
    return user, None


async def export_citizen(
    settings: Settings, number: str | None, line_user_id: str | None, output: str | None
) -> int:
    """Write what is kept about one citizen (by a case number or LINE user id) as CSV; 0, or
    UnknownCitizen (exit 2) when there is no such case or citizen."""
    texts = Texts.load()
    tz = settings.center.tz
    db = await Database.open(settings.database_path, settings.storage.busy_timeout_ms)
    try:
        user, case = await _find(db.read, number, line_user_id)
        nothing: str | None = None
        if user is not None:
            subject = ("user", user.id)
            held = await _held_by(user, db.read)
            deleted = await _deleted_at(user, db.read)
            if deleted is not None and held.empty():
                nothing = (
                    "nothing held about this citizen: their data was deleted on their request on "
                    f"{local_time(deleted, tz)} (only the LINE user id and follow state remain)"
                )
        else:
            assert case is not None
            subject = ("case", case.id)
            held = Held(None, [(case, await db.read.cases.messages(case.id))])
            if case.anonymised_at is not None:
                why = "on the citizen's request" if case.anonymised_reason == "request" else "at retention"
                nothing = (
                    f"nothing held under case {case.number}: its personal data was deleted {why} on "
                    f"{local_time(case.anonymised_at, tz)} (other data: --line-user)"
                )
        counts = {key: 0 for key in held.counts()} if nothing else held.counts()
        # Even an answer of "nothing" is on record: the request was answered, by whom and when.
        await record_export(db, "citizen.exported", *subject, {**counts, "nothing": nothing is not None})
    finally:
        await db.close()
    if nothing is not None:
        print(nothing)
        return 0
    write_csv(_rows(held, settings, texts), output)
    summary = ", ".join(f"{count} {key}" for key, count in held.counts().items())
    print(f"exported what is kept about one citizen: {summary}", file=sys.stderr)
    return 0
