"""What is sent about an event once, besides its reminders: the list of registrants for staff the day
before, the questionnaire after it, and the questionnaire's summary when it closes.

Run by the reminder sweep (`ReminderService.run`, every minute and at start), with its clock. Each send
is claimed in the database (storage/questionnaire.py: a conditional UPDATE of `event_followups`) in the
transaction that writes its outbox rows, so two sweeps or a restart send it once, a sweep that runs
late still sends it, and a crash before the commit sends it after the restart.

- The day-before list: at `[events] digest_time` (center's time) the day before the start, for every
  event not cancelled, posted in `[slack] events_channel` (none when ""). Late (the bot was down) it
  is still posted as long as the event has not started. A moved event gets a list for its new day.
  Slack takes at most 3,000 characters in a section and 50 blocks in a message: the list is cut into
  sections at line ends and into as many posts as needed.
- The questionnaire: `[events.questionnaire] send_after` the end of a public event of its kinds, to those
  with a seat who still follow (one multicast, batches of 500); late, it still goes while it would be
  open had it gone on time. Answers count for `close_after`; then the summary goes to the channel.
"""

from __future__ import annotations

import logging
import re
import sys
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from typing import Any

from bot.case_export import write_csv
from bot.config import Settings
from bot.line.render import render
from bot.logs import fields
from bot.slack.mrkdwn import escape, escape_cut
from flows import questionnaire
from flows.dates import moment_text
from flows.reminders import place_text
from flows.texts import Texts
from storage import Database, Repositories
from storage.events import Event
from storage.outbox import OutboxMessage
from storage.outbox_rows import BadRow, ChannelPost, EventDigest
from storage.questionnaire import Question, Registrant, Roster

log = logging.getLogger("madoguchi.event_digest")

# Slack's limits for one message (Block Kit): characters of a section's text, blocks.
MAX_SECTION_TEXT = 3000
MAX_BLOCKS = 50
# The list goes out at most this long before the start (a digest time of 00:00 for an event at 23:59).
DIGEST_LOOKAHEAD = timedelta(days=2)
# A name longer than this is cut in the list (a row of the list stays readable).
MAX_NAME = 100
# Sections a post of the list holds besides its top line and the closing note.
ROOM = MAX_BLOCKS - 2
# A party size no sign-up reaches: only its digits count, in the longest line a part must hold.
LARGEST_PARTY = 10**9


def digest_due_at(starts_at: datetime, settings: Settings) -> datetime:
    """`digest_time` on the day before the start, both in the center's timezone."""
    tz = settings.center.tz
    hour, minute = (int(part) for part in settings.events.digest_time.split(":"))
    day_before = starts_at.astimezone(tz).date() - timedelta(days=1)
    return datetime.combine(day_before, time(hour, minute), tzinfo=tz)


async def sweep(db: Database, settings: Settings, texts: Texts, now: datetime) -> int:
    """Send whatever is due: day-before lists, questionnaires, summaries. Returns the rows queued."""
    queued = await _digests(db, settings, texts, now)
    queued += await _questionnaires(db, settings, texts, now)
    queued += await _summaries(db, settings, texts, now)
    return queued


# -- the day-before list -----------------------------------------------------------------------------


async def _digests(db: Database, settings: Settings, texts: Texts, now: datetime) -> int:
    channel = settings.slack.events_channel
    if not channel:
        return 0
    await _redraw_legacy_lists(db, settings, texts)
    queued = 0
    for event_id in await db.read.questionnaire.digest_candidates(now, now + DIGEST_LOOKAHEAD):
        event = await db.read.events.get(event_id)
        if event is None or digest_due_at(event.starts_at, settings) > now:
            continue
        async with db.transaction() as tx:
            event = await tx.events.get(event_id)  # as it is now: cancelled or moved meanwhile?
            if event is None or event.status == "cancelled" or event.starts_at <= now:
                continue
            if digest_due_at(event.starts_at, settings) > now:
                continue
            if not await tx.questionnaire.claim_digest(event.id, event.starts_at, now):
                continue
            # Only the event's id: the names are read when the list is sent (`draw_digest`).
            await tx.outbox.add(EventDigest(event.id), channel, now)
        queued += 1
        log.info("event_digest.queued", extra=fields(event=event_id))
    return queued


async def draw_digest(
    read: Repositories, row: EventDigest, now: datetime, settings: Settings, texts: Texts
) -> tuple[ChannelPost, EventDigest | None] | None:
    """The post of `row.part` of the list and the row of the part after it (None after the last);
    None when there is nothing to post (the event is gone, cancelled or started by `now`: a row
    brought back by `outbox retry` days later; or the list got shorter).

    Part 1 (or a later part queued before parts were pinned) is laid out from the roster as it is
    now, and who is in each later part is pinned in the next row. A pinned part shows those of its
    registrations still signed up, numbered as in part 1: a cancellation or a deletion meanwhile
    leaves a gap and moves nobody; whoever signed up after part 1 is in no part (part 1's counts)."""
    event = await read.events.get(row.event_id)
    if event is None or event.status == "cancelled" or event.starts_at <= now:
        return None
    roster = await read.questionnaire.roster(event.id)
    pinned, number = row.registrations, row.number
    if not pinned:
        layout = _layout(roster, texts)
        if row.part > len(layout):
            return None
        pinned = tuple(tuple(r.registration for r in part) for part in layout[row.part - 1 :])
        number = 1 + sum(len(part) for part in layout[: row.part - 1])
    # A deleted citizen's registration is gone. Should SQLite give its id to a new sign-up for this
    # event, that registrant shows in its place, once: being newer than part 1, they are in no other.
    signed_up = {r.registration: r for r in roster.registrants}
    shown = [replace(signed_up[i], position=n) for n, i in enumerate(pinned[0], number) if i in signed_up]
    post = _post(event, roster, shown, row.part, row.part - 1 + len(pinned), settings, texts)
    if len(pinned) == 1:
        return post, None
    return post, EventDigest(event.id, row.part + 1, pinned[1:], number + len(pinned[0]))


@dataclass(frozen=True)
class _LegacyPost:
    """One post of a list queued by the older version: its row, the title in its notification text
    (escaped as that version did), its part (from the head of parts 2, 3...) and its first block."""

    message: OutboxMessage
    title: str
    part: int
    top: str


async def _redraw_legacy_lists(db: Database, settings: Settings, texts: Texts) -> None:
    """Lists queued by a version before EventDigest, as finished posts with the names in them, still
    waiting in the outbox (Slack was down when the database was upgraded) or failed or dead (`outbox
    retry` brings those back): each becomes an EventDigest of its event, so that it is drawn when
    sent and a citizen deleted meanwhile is neither kept in the database nor posted. Such rows exist
    only in a database written by the older version.

    That version claimed an event's list (`claim_digest`, the start and the moment) in the
    transaction that queued its posts, so a post's `created_at` names the claims it can belong to;
    one list's posts have consecutive ids. A list whose event is gone, has moved since (its new day
    gets a list of its own) or cannot be told apart is dropped, with a warning."""
    channel = settings.slack.events_channel
    fallback = _pattern(texts.get("digest.fallback", title="\x00", taken="\x01"))
    continued = _pattern(texts.get("digest.continued", title="\x00", part="\x01", parts="\x02"))
    lists: list[list[_LegacyPost]] = []
    for message in await db.read.outbox.undelivered(f"slack:{channel}"):
        try:
            row = message.row
        except BadRow:
            continue  # refused by the outbox worker when due
        match = fallback.fullmatch(row.text) if isinstance(row, ChannelPost) else None
        if match is None or not isinstance(row, ChannelPost):
            continue  # a questionnaire's summary or another post: no names
        top = str(row.blocks[0].get("text", {}).get("text", "")) if row.blocks else ""
        later = continued.fullmatch(top)  # the head of part 2, 3...
        post = _LegacyPost(message, match["title"], int(later["part"]) if later else 1, top)
        last = lists[-1][-1] if lists else None
        if last is not None and _same_list(last, post):
            lists[-1].append(post)
        else:
            lists.append([post])
    if not lists:
        return
    async with db.transaction() as tx:
        for moment in dict.fromkeys(posts[0].message.created_at for posts in lists):
            together = [posts for posts in lists if posts[0].message.created_at == moment]
            events = await _legacy_events(tx, together, moment, settings, texts)
            for posts, event_id in zip(together, events, strict=True):
                first, *rest = posts
                if event_id is None:
                    for post in posts:
                        await tx.outbox.replace_undelivered(
                            post.message.id, None, "legacy list: event not found"
                        )
                        log.warning("event_digest.legacy_list_dropped", extra=fields(id=post.message.id))
                    continue
                await tx.outbox.replace_undelivered(first.message.id, EventDigest(event_id, first.part), "")
                log.info(
                    "event_digest.legacy_list_redrawn", extra=fields(id=first.message.id, event=event_id)
                )
                for post in rest:  # the redrawn list queues its own later parts
                    await tx.outbox.replace_undelivered(post.message.id, None, "legacy list: redrawn")


def _same_list(last: _LegacyPost, post: _LegacyPost) -> bool:
    """The next part of the same list: written right after it, in the same transaction."""
    return (
        post.message.id == last.message.id + 1
        and post.message.created_at == last.message.created_at
        and post.title == last.title
        and post.part == last.part + 1
    )


async def _legacy_events(
    tx: Repositories, lists: list[list[_LegacyPost]], moment: datetime, settings: Settings, texts: Texts
) -> list[int | None]:
    """The event of each list queued at `moment` (in the order of their ids), None where it cannot be
    told or is gone or has moved since. The list is one of the claims made at that moment; with more
    than one: the one whose title it shows (escaped either way a version did), whose start part 1's
    head shows, and the order the older version queued them in (the claims' order, ascending ids)."""
    claims = await tx.questionnaire.digests_claimed_at(moment)
    events = [await tx.events.get(event_id) for event_id, _ in claims]
    candidates: list[set[int]] = []
    for posts in lists:
        first = posts[0]
        found = set(range(len(claims)))
        if len(found) > 1:  # one claim alone is this list's even if the title was edited since
            found = {k for k in found if first.title in _titles(events[k])}
        if len(found) > 1 and first.part == 1:
            when = {k: moment_text(texts, claims[k][1], settings.center.tz) for k in found}
            found = {k for k in found if when[k] in first.top}
        candidates.append(found)
    # Each claim had one list, and a sweep queued them in the claims' order: a list whose candidates
    # are still several lies between the lists around it that are told, and is none of theirs.
    chosen = [min(found) if len(found) == 1 else None for found in candidates]
    progress = True
    while progress:
        progress = False
        for i, found in enumerate(candidates):
            if chosen[i] is not None:
                continue
            low = max((k for k in chosen[:i] if k is not None), default=-1)
            high = min((k for k in chosen[i + 1 :] if k is not None), default=len(claims))
            left = {k for k in found if low < k < high and k not in chosen}
            if len(left) == 1:
                chosen[i] = left.pop()
                progress = True
    # Gone, or moved since: the list shows the old day, and the new day gets a list of its own.
    still = [
        event is not None and event.starts_at == start
        for event, (_, start) in zip(events, claims, strict=True)
    ]
    return [claims[k][0] if k is not None and still[k] else None for k in chosen]


def _titles(event: Event | None) -> set[str]:
    """An event's title as a list's notification text showed it: escaped as now, or as a version
    before styling characters were escaped (`& < >` only) wrote it."""
    if event is None:
        return set()
    older = event.title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return {escape(event.title), older}


def _pattern(template: str) -> re.Pattern[str]:
    """A text rendered with \\x00, \\x01, \\x02 for its fields, as a pattern: title, then numbers."""
    escaped = re.escape(template)
    for marker, group in (("\x00", "(?P<title>.*)"), ("\x01", "(?P<part>\\d+)"), ("\x02", "\\d+")):
        escaped = escaped.replace(re.escape(marker), group, 1)
    return re.compile(escaped, re.DOTALL)


def digest_posts(event: Event, roster: Roster, settings: Settings, texts: Texts) -> list[ChannelPost]:
    """The whole list as its posts would be drawn from this roster (a head with the event and counts,
    then the names in sections of at most 3,000 characters, at most 50 blocks a post)."""
    parts = _layout(roster, texts)
    return [_post(event, roster, part, n, len(parts), settings, texts) for n, part in enumerate(parts, 1)]


def _layout(roster: Roster, texts: Texts) -> list[list[Registrant]]:
    """The registrants cut into posts: part 1 takes as many as its sections hold; a later part as
    many as its sections would hold however long the names are when it is drawn (a name can change
    while it waits), so that every part fits in one post."""
    registrants = list(roster.registrants)
    lines = [_registrant_line(r.position, r.name, r.source, r.party_size, texts) for r in registrants]
    held = "\n".join(_sections([texts.get("digest.list_header"), *lines])[:ROOM]).count("\n")
    longest = max(
        len(_registrant_line(len(registrants), "x" * MAX_NAME, source, LARGEST_PARTY, texts))
        for source in ("line", "none")
    )
    each = ROOM * (MAX_SECTION_TEXT // (longest + 1))
    parts = [registrants[:held]]
    parts += [registrants[i : i + each] for i in range(held, len(registrants), each)]
    return parts


def _post(
    event: Event,
    roster: Roster,
    shown: list[Registrant],
    part: int,
    parts: int,
    settings: Settings,
    texts: Texts,
) -> ChannelPost:
    """One post of the list: part 1 with the head (the event, counts), a later one with a line saying
    which part; the last with the note. The post's text (the notification) names nobody."""
    title = escape(event.title)
    lines = [_registrant_line(r.position, r.name, r.source, r.party_size, texts) for r in shown]
    if part == 1:
        taken = roster.seats_taken
        counts = (
            texts.get("digest.counts_unlimited", taken=taken, waitlisted=roster.waitlisted)
            if event.capacity is None
            else texts.get(
                "digest.counts", taken=taken, capacity=event.capacity, waitlisted=roster.waitlisted
            )
        )
        when = moment_text(texts, event.starts_at, settings.center.tz)
        place = escape(place_text(texts, event.venue, event.online_url))
        when_line = texts.get("digest.when", when=when, place=place)
        top = "\n".join([texts.get("digest.title", title=title), when_line, counts])
        sections = (
            _sections([texts.get("digest.list_header"), *lines]) if lines else [texts.get("digest.none")]
        )
    else:
        top = texts.get("digest.continued", title=title, part=part, parts=parts)
        sections = _sections(lines) if lines else []  # everyone in it cancelled meanwhile
    blocks: list[dict[str, Any]] = [_section(top), *(_section(s) for s in sections)]
    if part == parts:
        note = {"type": "context", "elements": [{"type": "mrkdwn", "text": texts.get("digest.note")}]}
        blocks.append(note)
    return ChannelPost(texts.get("digest.fallback", title=title, taken=roster.seats_taken), blocks)


def _registrant_line(number: int, name: str, source: str, party: int, texts: Texts) -> str:
    shown = escape_cut(" ".join(name.split()), MAX_NAME)  # one line, pinging nobody
    if source == "line":
        shown = texts.get("digest.line_name", name=shown)
    elif source == "none":
        shown = texts.get("digest.no_name")
    if party > 1:
        return texts.get("digest.line_party", number=number, name=shown, party=party)
    return texts.get("digest.line", number=number, name=shown)


def _sections(lines: list[str]) -> list[str]:
    """Lines joined into texts of at most MAX_SECTION_TEXT characters, cut only at line ends."""
    sections: list[str] = []
    current = ""
    for line in lines:
        joined = f"{current}\n{line}" if current else line
        if len(joined) > MAX_SECTION_TEXT and current:
            sections.append(current)
            joined = line
        current = joined
    sections.append(current)
    return sections


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


# -- the questionnaire -------------------------------------------------------------------------------


async def _questionnaires(db: Database, settings: Settings, texts: Texts, now: datetime) -> int:
    config = settings.events.questionnaire
    if not config.enabled:
        return 0
    ended_by = now - config.send_delay
    candidates = await db.read.questionnaire.survey_candidates(
        ended_by - config.open_for, ended_by, settings.events.questionnaire_kinds
    )
    questions = [Question(q.text, tuple(q.choices)) for q in config.questions]
    queued = 0
    for event_id in candidates:
        async with db.transaction() as tx:
            event = await tx.events.get(event_id)
            if event is None or event.status == "cancelled":
                continue
            recipients = await tx.questionnaire.claim_survey(event_id, questions, now + config.open_for, now)
            if recipients is None:
                continue  # sent by another sweep
            batches = await _send_survey(tx, event, recipients, settings, texts, now)
        queued += batches
        log.info(
            "event_digest.survey_sent", extra=fields(event=event_id, asked=len(recipients), batches=batches)
        )
    return queued


async def _send_survey(
    tx: Repositories, event: Event, recipients: list[str], settings: Settings, texts: Texts, now: datetime
) -> int:
    # bot.reminders runs this sweep; imported here so that neither module needs the other at import.
    from bot.reminders import queue_multicast

    survey = await tx.questionnaire.survey(event.id)
    if survey is None or not recipients:
        return 0
    message = questionnaire.first_message(texts, survey, event.title, settings.center.tz)
    return await queue_multicast(tx, recipients, render(message), now, f"survey:{event.id}", "survey")


# -- the summary -------------------------------------------------------------------------------------


async def _summaries(db: Database, settings: Settings, texts: Texts, now: datetime) -> int:
    """Questionnaires whose time is up are closed, and each that asked anyone is summed up in the
    events channel (if there is one)."""
    channel = settings.slack.events_channel
    queued = 0
    for event_id in await db.read.questionnaire.closing_due(now):
        async with db.transaction() as tx:
            if not await tx.questionnaire.close(event_id, now):
                continue
            survey = await tx.questionnaire.survey(event_id)
            event = await tx.events.get(event_id)
            if not channel or survey is None or event is None or survey.asked == 0:
                continue
            tally = await tx.questionnaire.tally(survey)
            summary = questionnaire.summarise(survey, tally)
            await tx.outbox.add(
                summary_post(event, survey.asked, tally.answered, summary, settings, texts), channel, now
            )
        queued += 1
        log.info("event_digest.survey_summed_up", extra=fields(event=event_id, asked=survey.asked))
    return queued


def summary_post(
    event: Event,
    asked: int,
    answered: int,
    summary: tuple[questionnaire.QuestionSummary, ...],
    settings: Settings,
    texts: Texts,
) -> ChannelPost:
    """Counts and percentages per choice, and how many answered of how many asked (no names)."""
    title = escape(event.title)
    when = moment_text(texts, event.starts_at, settings.center.tz)
    head = "\n".join(
        [
            texts.get("questionnaire.summary_title", title=title, when=when),
            texts.get("questionnaire.summary_answered", answered=answered, asked=asked),
        ]
    )
    blocks = [_section(head)]
    for question in summary:
        lines = [
            texts.get(
                "questionnaire.summary_question",
                number=question.number,
                text=escape(question.text),
                answered=question.answered,
            )
        ]
        lines += [
            texts.get(
                "questionnaire.summary_choice", label=escape(label), count=count, percent=f"{percent:g}"
            )
            for label, count, percent in question.choices
        ]
        blocks.append(_section("\n".join(lines)))
    fallback = texts.get(
        "questionnaire.summary_fallback", title=escape(event.title), answered=answered, asked=asked
    )
    return ChannelPost(fallback, blocks)


# -- `madoguchi events survey EVENT_ID` --------------------------------------------------------------

SURVEY_HEADER = [
    "question",
    "text",
    "choice",
    "count",
    "percent",
    "answered",
    "respondents",
    "asked",
    "closed",
]


async def survey_report(settings: Settings, event_id: str, output: str | None) -> int:
    """The questionnaire's counts as CSV (UTF-8 with BOM, CRLF), no personal data: one row per choice,
    with how many answered the question, answered any, and were asked; `closed` is 1 once final."""
    if not (event_id.isascii() and event_id.isdigit()):
        print(f"error: events survey: EVENT_ID must be a number (got {event_id!r})", file=sys.stderr)
        return 2
    db = await Database.open(settings.database_path, settings.storage.busy_timeout_ms)
    try:
        event = await db.read.events.get(int(event_id))
        survey = await db.read.questionnaire.survey(int(event_id))
        tally = None if survey is None else await db.read.questionnaire.tally(survey)
    finally:
        await db.close()
    if event is None:
        print(
            f"error: events survey: no event {event_id} (`madoguchi events list` shows id=N)", file=sys.stderr
        )
        return 2
    if survey is None or tally is None:
        print(f"error: events survey: event {event_id} has had no questionnaire", file=sys.stderr)
        return 2
    closed = int(survey.closed_at is not None)
    rows: list[list[object]] = [list(SURVEY_HEADER)]
    for question in questionnaire.summarise(survey, tally):
        for label, count, percent in question.choices:
            rows.append(
                [
                    question.number,
                    question.text,
                    label,
                    count,
                    percent,
                    question.answered,
                    tally.answered,
                    survey.asked,
                    closed,
                ]
            )
    write_csv(rows, output)
    return 0
