"""Network-meeting notices to the ward centers: what each ward and the staff are told, how answers
are read and counted, and when answers and reminders are due. No LINE or Slack here: the channels
turn these into messages (bot/notices.py, bot/slack/notices.py).

An answer button carries `notice:<notice id>:<ward center id>:<answer>[:<attendees>]`. It is our own
value coming back as hostile input: `AnswerValue.unpack` reads nothing else, and the ward it names
must be the ward whose channel or group it came from (checked by the caller).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo
from typing import Literal

from flows.dates import moment_text
from flows.messages import Card, Choice, Link, Text
from flows.reminders import place_text
from flows.texts import Texts
from storage.notices import Answer, Notice, NoticeRecipient, ReminderKind

ANSWERS: tuple[Answer, ...] = ("attend", "absent", "maybe")
# Attendee numbers offered (LINE buttons, the Slack select): a ward center sends a few people.
MAX_ATTENDEES = 5
# The meeting-day reminder goes at least this long before the meeting.
DAY_REMINDER_LEAD = timedelta(hours=1)

_VALUE = re.compile(r"notice:([1-9][0-9]{0,8}):([1-9][0-9]{0,8}):(attend|absent|maybe)(?::([1-9]))?")


@dataclass(frozen=True)
class AnswerValue:
    """What an answer button says: this notice, this ward, this answer (and, for 出席, how many)."""

    notice_id: int
    ward_id: int
    answer: Answer
    attendees: int | None = None

    def pack(self) -> str:
        count = f":{self.attendees}" if self.attendees is not None else ""
        return f"notice:{self.notice_id}:{self.ward_id}:{self.answer}{count}"

    @classmethod
    def unpack(cls, value: object) -> AnswerValue | None:
        """The value of one of our buttons, or None for anything else."""
        found = _VALUE.fullmatch(value) if isinstance(value, str) else None
        if found is None:
            return None
        answer: Answer = found.group(3)  # type: ignore[assignment]
        attendees = int(found.group(4)) if found.group(4) else None
        if attendees is not None and (answer != "attend" or attendees > MAX_ATTENDEES):
            return None
        return cls(int(found.group(1)), int(found.group(2)), answer, attendees)


# -- the notice's details ------------------------------------------------------------------------------


def details(texts: Texts, notice: Notice, tz: tzinfo) -> list[str]:
    """日時, 会場 or オンライン, 回答期限, 議題, 資料: one line each (the agenda may span several)."""
    lines = [texts.get("notices.when", when=_moment(texts, notice.meeting_at, tz))]
    if notice.venue:
        lines.append(texts.get("notices.venue", venue=notice.venue))
    if notice.online_url:
        lines.append(texts.get("notices.online", url=notice.online_url))
    lines.append(texts.get("notices.deadline", deadline=_moment(texts, notice.answer_by, tz)))
    if notice.agenda:
        lines.append(texts.get("notices.agenda", agenda=notice.agenda))
    if notice.materials_url:
        lines.append(texts.get("notices.materials", url=notice.materials_url))
    return lines


def _moment(texts: Texts, moment: datetime | None, tz: tzinfo) -> str:
    return "" if moment is None else moment_text(texts, moment, tz)


def answer_text(texts: Texts, answer: Answer | None, attendees: int | None) -> str:
    """出席（2名）, 欠席, 未定, or 未回答."""
    if answer is None:
        return texts.get("notices.unanswered")
    if answer == "attend" and attendees:
        return texts.get("notices.attend_count", count=attendees)
    return texts.get(f"notices.{answer}")


# -- answering -------------------------------------------------------------------------------------------


def refusal(texts: Texts, notice: Notice, given_at: datetime, tz: tzinfo) -> str | None:
    """Why an answer given at `given_at` cannot be taken (cancelled, or given past the deadline); None
    when it can."""
    if notice.status == "cancelled":
        return texts.get("notices.refused_cancelled", title=notice.title)
    if notice.answer_by is not None and given_at > notice.answer_by:
        return texts.get("notices.refused_closed", deadline=_moment(texts, notice.answer_by, tz))
    return None


def attendees_for(value: AnswerValue, current: NoticeRecipient | None) -> int | None:
    """出席 pressed without a number keeps the number given before, else 1; other answers have none."""
    if value.answer != "attend":
        return None
    if value.attendees is not None:
        return value.attendees
    if current is not None and current.answer == "attend" and current.attendees:
        return current.attendees
    return 1


def answered(
    texts: Texts, ward: str, notice: Notice, value: AnswerValue, attendees: int | None, tz: tzinfo
) -> Card | Text:
    """The confirmation in a ward's LINE group: 出席 asks how many (buttons), the rest just confirm."""
    deadline = _moment(texts, notice.answer_by, tz)
    if value.answer == "attend" and value.attendees is None:
        buttons = tuple(
            Choice(
                texts.get("notices.count_option", count=n),
                AnswerValue(notice.id, value.ward_id, "attend", n).pack(),
            )
            for n in range(1, MAX_ATTENDEES + 1)
        )
        return Card(texts.get("notices.ask_count", ward=ward, count=attendees or 1), (), buttons)
    return Text(
        texts.get(
            "notices.recorded",
            ward=ward,
            answer=answer_text(texts, value.answer, attendees),
            deadline=deadline,
        )
    )


# -- what the wards receive ------------------------------------------------------------------------------

Heading = Literal["new", "changed", "unanswered"]


def answer_choices(texts: Texts, notice_id: int, ward_id: int) -> tuple[Choice, ...]:
    return tuple(
        Choice(texts.get(f"notices.{answer}"), AnswerValue(notice_id, ward_id, answer).pack())
        for answer in ANSWERS
    )


def ward_card(texts: Texts, notice: Notice, ward_id: int, ward: str, tz: tzinfo, heading: Heading) -> Card:
    """The notice for one ward's LINE group: details and 出席 / 欠席 / 未定 buttons (postbacks, which LINE
    for PC shows too), with links to join online and to the materials."""
    lead = texts.get(f"notices.heading_{heading}", ward=ward)
    links: list[Link] = []
    if notice.online_url:
        links.append(Link(texts.get("notices.open_online"), notice.online_url))
    if notice.materials_url:
        links.append(Link(texts.get("notices.open_materials"), notice.materials_url))
    lines = (lead, *details(texts, notice, tz), texts.get("notices.ask"))
    return Card(notice.title, lines, (*answer_choices(texts, notice.id, ward_id), *links))


def changed_text(texts: Texts, notice: Notice, tz: tzinfo) -> str:
    return texts.get("notices.changed", title=notice.title, details="\n".join(details(texts, notice, tz)))


def cancelled_text(texts: Texts, notice: Notice, tz: tzinfo) -> str:
    return texts.get("notices.cancelled", title=notice.title, when=_moment(texts, notice.meeting_at, tz))


def reminder_text(texts: Texts, notice: Notice, kind: ReminderKind, tz: tzinfo) -> str:
    assert notice.meeting_at is not None
    if kind == "unanswered":
        return texts.get(
            "notices.remind_unanswered",
            title=notice.title,
            when=_moment(texts, notice.meeting_at, tz),
            deadline=_moment(texts, notice.answer_by, tz),
        )
    local = notice.meeting_at.astimezone(tz)
    return texts.get(
        "notices.remind_day",
        title=notice.title,
        time=f"{local.hour}:{local.minute:02d}",
        place=place_text(texts, notice.venue, notice.online_url),
    )


def reminder_recipients(kind: ReminderKind, recipients: Sequence[NoticeRecipient]) -> list[NoticeRecipient]:
    """Before the deadline: wards without an answer and those still 未定. On the day: wards attending."""
    if kind == "unanswered":
        return [r for r in recipients if r.answer in (None, "maybe")]
    return [r for r in recipients if r.answer == "attend"]


def reminder_times(
    notice: Notice, remind_before: timedelta, day_at: time, tz: tzinfo, now: datetime
) -> dict[ReminderKind, datetime | None]:
    """When each reminder falls due (None: not at all, as its time has passed or it makes no sense)."""
    assert notice.meeting_at is not None and notice.answer_by is not None
    unanswered = notice.answer_by - remind_before
    local_day = notice.meeting_at.astimezone(tz).date()
    day = min(datetime.combine(local_day, day_at, tzinfo=tz), notice.meeting_at - DAY_REMINDER_LEAD)
    # Never the evening before (a meeting at 0:30): its text says 本日 (today).
    day = max(day, datetime.combine(local_day, time(0, 0), tzinfo=tz))
    # A time already past sends nothing (a notice sent within remind_before of its deadline).
    return {"unanswered": unanswered if unanswered > now else None, "day": day if day > now else None}


# -- the staff's answer sheet ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    total: int
    answered: int
    attend: int
    people: int
    absent: int
    maybe: int
    missing: tuple[str, ...]


def short_ward(name: str) -> str:
    """旭区 → 旭 (the sheet's list of who has not answered)."""
    return name[:-1] if len(name) > 1 and name.endswith("区") else name


def tally(recipients: Sequence[NoticeRecipient], wards: Mapping[int, str]) -> Tally:
    def count(answer: Answer) -> int:
        return sum(1 for r in recipients if r.answer == answer)

    return Tally(
        total=len(recipients),
        answered=sum(1 for r in recipients if r.answer is not None),
        attend=count("attend"),
        people=sum(r.attendees or 1 for r in recipients if r.answer == "attend"),
        absent=count("absent"),
        maybe=count("maybe"),
        missing=tuple(short_ward(wards.get(r.ward_center_id, "?")) for r in recipients if r.answer is None),
    )


def sheet_summary(texts: Texts, counted: Tally) -> str:
    """回答 12/18 — 出席 9（計14名）、欠席 2、未定 1；未回答：旭、瀬谷"""
    missing = "、".join(counted.missing) if counted.missing else texts.get("notices.missing_none")
    return texts.get(
        "notices.sheet_summary",
        answered=counted.answered,
        total=counted.total,
        attend=counted.attend,
        people=counted.people,
        absent=counted.absent,
        maybe=counted.maybe,
        missing=missing,
    )


def sheet_title(texts: Texts, notice: Notice, tz: tzinfo) -> str:
    mark = {
        "active": "",
        "changed": texts.get("notices.mark_changed"),
        "cancelled": texts.get("notices.mark_cancelled"),
    }
    return mark[notice.status] + texts.get(
        "notices.sheet_title", title=notice.title, when=_moment(texts, notice.meeting_at, tz)
    )
