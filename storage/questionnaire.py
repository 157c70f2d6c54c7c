"""What is sent about an event once: the day-before list for staff and the questionnaire after it,
with the citizens asked and their answers (migration 0016).

Each send is claimed with a conditional UPDATE of `event_followups` in the caller's transaction, the
one that writes its outbox rows: two sweeps, two processes or a restart send it once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import aiosqlite

from storage.base import Repository
from storage.timefmt import from_db, opt_from_db, to_db

NameSource = Literal["line", "none"]


@dataclass(frozen=True)
class Question:
    text: str
    choices: tuple[str, ...]


@dataclass(frozen=True)
class Survey:
    """An event's questionnaire as it went out."""

    event_id: int
    questions: tuple[Question, ...]
    sent_at: datetime
    closes_at: datetime
    asked: int
    closed_at: datetime | None
    # The counts kept once who answered what was let go (`keep_counts_only`); None until then.
    counted: Tally | None = None

    def open_at(self, now: datetime) -> bool:
        return self.closed_at is None and now < self.closes_at


@dataclass(frozen=True)
class Registrant:
    """One with a seat, in the order of signing up: the name given in their latest consultation,
    else their LINE display name, else none."""

    position: int
    name: str
    source: NameSource
    party_size: int
    registration: int  # the registration's id: a list cut into posts keeps its members by it


@dataclass(frozen=True)
class Roster:
    registrants: tuple[Registrant, ...]
    seats_taken: int
    waitlisted: int


@dataclass(frozen=True)
class Tally:
    """The answers counted: per question, the count of each choice (in order); how many citizens
    answered at least one question."""

    counts: tuple[tuple[int, ...], ...]
    answered: int


@dataclass(frozen=True)
class GivenAnswer:
    """One citizen's answer to one question (for a disclosure: `madoguchi citizen export`)."""

    event_id: int
    question: int
    choice: int
    answered_at: datetime


@dataclass(frozen=True)
class Answered:
    """An answer stored (or not: not asked, or closed) and the question a typed answer goes to next."""

    accepted: bool
    next_question: int | None = None


class QuestionnaireRepository(Repository):
    # -- the day-before list ------------------------------------------------------------------

    async def digest_candidates(self, after: datetime, until: datetime) -> list[int]:
        """Events not cancelled starting in (after, until] whose list was not posted for that start."""
        rows = await self._all(
            "SELECT e.id FROM events e LEFT JOIN event_followups f ON f.event_id = e.id"
            " WHERE e.status != 'cancelled' AND e.starts_at > ? AND e.starts_at <= ?"
            " AND (f.digest_for IS NULL OR f.digest_for != e.starts_at) ORDER BY e.starts_at, e.id",
            (to_db(after), to_db(until)),
        )
        return [int(r[0]) for r in rows]

    async def claim_digest(self, event_id: int, starts_at: datetime, now: datetime) -> bool:
        """Take the day-before list of the event starting at `starts_at`; False when already taken."""
        await self._ensure(event_id)
        changed = await self._run(
            "UPDATE event_followups SET digest_for = :start, digest_posted_at = :now"
            " WHERE event_id = :event AND (digest_for IS NULL OR digest_for != :start)",
            {"start": to_db(starts_at), "now": to_db(now), "event": event_id},
        )
        return changed == 1

    async def digests_claimed_at(self, posted_at: datetime) -> list[tuple[int, datetime]]:
        """The events whose day-before list was claimed at this moment, with the start it was claimed
        for, in the order a sweep takes them (by that start, then id)."""
        rows = await self._all(
            "SELECT event_id, digest_for FROM event_followups WHERE digest_posted_at = ?"
            " AND digest_for IS NOT NULL ORDER BY digest_for, event_id",
            (to_db(posted_at),),
        )
        return [(int(r[0]), from_db(r[1])) for r in rows]

    async def roster(self, event_id: int) -> Roster:
        rows = await self._all(
            # The LINE display name only: a name given in a consultation is for that case's staff.
            """SELECT r.id, r.party_size, u.display_name
            FROM registrations r JOIN users u ON u.id = r.user_id
            WHERE r.event_id = ? AND r.status = 'registered' ORDER BY r.created_at, r.id""",
            (event_id,),
        )
        registrants: list[Registrant] = []
        for position, row in enumerate(rows, 1):
            display = str(row["display_name"] or "").strip()
            source: NameSource = "line" if display else "none"
            registrants.append(Registrant(position, display, source, int(row["party_size"]), int(row["id"])))
        waiting = await self._one(
            "SELECT count(*) FROM registrations WHERE event_id = ? AND status = 'waitlisted'", (event_id,)
        )
        assert waiting is not None
        return Roster(tuple(registrants), sum(r.party_size for r in registrants), int(waiting[0]))

    # -- the questionnaire: sending and closing ------------------------------------------------

    async def survey_candidates(
        self, ended_after: datetime, ended_by: datetime, kinds: Sequence[str]
    ) -> list[int]:
        """Public events not cancelled, of these kinds, that ended in (ended_after, ended_by] and have
        not had their questionnaire."""
        if not kinds:
            return []
        marks = ", ".join("?" for _ in kinds)
        rows = await self._all(
            "SELECT e.id FROM events e LEFT JOIN event_followups f ON f.event_id = e.id"
            f" WHERE e.status != 'cancelled' AND e.public = 1 AND e.kind IN ({marks})"
            " AND coalesce(e.ends_at, e.starts_at) > ? AND coalesce(e.ends_at, e.starts_at) <= ?"
            " AND f.survey_sent_at IS NULL ORDER BY e.starts_at, e.id",
            (*kinds, to_db(ended_after), to_db(ended_by)),
        )
        return [int(r[0]) for r in rows]

    async def claim_survey(
        self, event_id: int, questions: Sequence[Question], closes_at: datetime, now: datetime
    ) -> list[str] | None:
        """Take the event's questionnaire: record the questions and who is asked (those with a seat who
        still follow), and return their LINE user ids; None when it was taken already."""
        await self._ensure(event_id)
        snapshot = json.dumps(
            [{"text": q.text, "choices": list(q.choices)} for q in questions], ensure_ascii=False
        )
        changed = await self._run(
            "UPDATE event_followups SET survey_sent_at = ?, survey_closes_at = ?, survey_questions = ?"
            " WHERE event_id = ? AND survey_sent_at IS NULL",
            (to_db(now), to_db(closes_at), snapshot, event_id),
        )
        if changed != 1:
            return None
        await self._run(
            "INSERT OR IGNORE INTO survey_recipients (event_id, user_id, next_question, asked_at)"
            " SELECT r.event_id, r.user_id, 1, ? FROM registrations r JOIN users u ON u.id = r.user_id"
            " WHERE r.event_id = ? AND r.status = 'registered' AND u.following = 1",
            (to_db(now), event_id),
        )
        rows = await self._all(
            "SELECT u.line_user_id FROM survey_recipients s JOIN users u ON u.id = s.user_id"
            " JOIN registrations r ON r.event_id = s.event_id AND r.user_id = s.user_id"
            " WHERE s.event_id = ? ORDER BY r.created_at, r.id",
            (event_id,),
        )
        await self._run(
            "UPDATE event_followups SET survey_asked = ? WHERE event_id = ?", (len(rows), event_id)
        )
        return [str(r[0]) for r in rows]

    async def closing_due(self, now: datetime) -> list[int]:
        """Questionnaires whose time is up and that are not closed yet."""
        rows = await self._all(
            "SELECT event_id FROM event_followups WHERE survey_closed_at IS NULL"
            " AND survey_closes_at IS NOT NULL AND survey_closes_at <= ? ORDER BY survey_closes_at, event_id",
            (to_db(now),),
        )
        return [int(r[0]) for r in rows]

    async def close(self, event_id: int, now: datetime) -> bool:
        """Take the close of the questionnaire (False when it was closed already); no question is
        pending any more."""
        changed = await self._run(
            "UPDATE event_followups SET survey_closed_at = ? WHERE event_id = ?"
            " AND survey_sent_at IS NOT NULL AND survey_closed_at IS NULL",
            (to_db(now), event_id),
        )
        if changed != 1:
            return False
        await self._run("UPDATE survey_recipients SET next_question = NULL WHERE event_id = ?", (event_id,))
        return True

    async def survey(self, event_id: int) -> Survey | None:
        row = await self._one(
            "SELECT * FROM event_followups WHERE event_id = ? AND survey_sent_at IS NOT NULL", (event_id,)
        )
        return None if row is None else _survey(row)

    async def tally(self, survey: Survey) -> Tally:
        """The answers given before it closed, counted (or the counts kept when the answers went)."""
        if survey.counted is not None:
            return survey.counted
        closes = to_db(survey.closes_at)
        rows = await self._all(
            "SELECT question, choice, count(*) FROM survey_answers WHERE event_id = ? AND answered_at < ?"
            " GROUP BY question, choice",
            (survey.event_id, closes),
        )
        found = {(int(r[0]), int(r[1])): int(r[2]) for r in rows}
        counts = tuple(
            tuple(found.get((q, c), 0) for c in range(1, len(question.choices) + 1))
            for q, question in enumerate(survey.questions, 1)
        )
        row = await self._one(
            "SELECT count(DISTINCT user_id) FROM survey_answers WHERE event_id = ? AND answered_at < ?",
            (survey.event_id, closes),
        )
        assert row is not None
        return Tally(counts, int(row[0]))

    # -- the questionnaire: answers ---------------------------------------------------------------

    async def answer(
        self, survey: Survey, user_id: int, question: int, choice: int, now: datetime
    ) -> Answered:
        """Store a citizen's answer (replacing their earlier one to the question) if they were asked and
        it is still open; the next unanswered question becomes the one a typed answer goes to."""
        if not survey.open_at(now):
            return Answered(False)
        changed = await self._run(
            """INSERT INTO survey_answers (event_id, user_id, question, choice, answered_at)
            SELECT s.event_id, s.user_id, :question, :choice, :now FROM survey_recipients s
            JOIN event_followups f ON f.event_id = s.event_id
            WHERE s.event_id = :event AND s.user_id = :user
                AND f.survey_closed_at IS NULL AND f.survey_closes_at > :now
            ON CONFLICT (event_id, user_id, question) DO UPDATE SET
                choice = excluded.choice, answered_at = excluded.answered_at""",
            {
                "event": survey.event_id,
                "user": user_id,
                "question": question,
                "choice": choice,
                "now": to_db(now),
            },
        )
        if changed != 1:
            return Answered(False)
        following = await self._unanswered(survey, user_id)
        await self._run(
            "UPDATE survey_recipients SET next_question = ? WHERE event_id = ? AND user_id = ?",
            (following, survey.event_id, user_id),
        )
        return Answered(True, following)

    async def pending(self, user_id: int, now: datetime) -> tuple[Survey, int] | None:
        """The open questionnaire (the latest sent) with a question waiting for this citizen's answer."""
        # The survey comes with it (one statement): this is asked of most short messages.
        row = await self._one(
            "SELECT f.*, s.next_question FROM survey_recipients s"
            " JOIN event_followups f ON f.event_id = s.event_id"
            " WHERE s.user_id = ? AND s.next_question IS NOT NULL AND f.survey_closed_at IS NULL"
            " AND f.survey_sent_at IS NOT NULL AND f.survey_closes_at > ?"
            " ORDER BY f.survey_sent_at DESC, s.event_id DESC LIMIT 1",
            (user_id, to_db(now)),
        )
        return None if row is None else (_survey(row), int(row["next_question"]))

    async def unanswered_when_closed(self, user_id: int, now: datetime) -> tuple[Survey, int] | None:
        """The questionnaire last sent to this citizen when it is closed and they left a question of it
        unanswered: with the first such question (the one a late typed answer would have answered)."""
        row = await self._one(
            "SELECT f.* FROM survey_recipients s JOIN event_followups f ON f.event_id = s.event_id"
            " WHERE s.user_id = ? AND f.survey_sent_at IS NOT NULL"
            " ORDER BY f.survey_sent_at DESC, s.event_id DESC LIMIT 1",
            (user_id,),
        )
        if row is None:
            return None
        survey = _survey(row)
        if survey.open_at(now):
            return None
        question = await self._unanswered(survey, user_id)
        return None if question is None else (survey, question)

    async def _unanswered(self, survey: Survey, user_id: int) -> int | None:
        """The first question of the survey the citizen has not answered, if any."""
        rows = await self._all(
            "SELECT question FROM survey_answers WHERE event_id = ? AND user_id = ?",
            (survey.event_id, user_id),
        )
        done = {int(r[0]) for r in rows}
        return next((q for q in range(1, len(survey.questions) + 1) if q not in done), None)

    async def was_asked(self, event_id: int, user_id: int) -> bool:
        row = await self._one(
            "SELECT 1 FROM survey_recipients WHERE event_id = ? AND user_id = ?", (event_id, user_id)
        )
        return row is not None

    async def answers_of(self, user_id: int) -> list[GivenAnswer]:
        """Every answer the citizen gave, questionnaire by questionnaire in the order they were asked."""
        # Found through their questionnaires, as in delete_for_user: no index of answers by user.
        rows = await self._all(
            "SELECT a.event_id, a.question, a.choice, a.answered_at FROM survey_recipients s"
            " JOIN survey_answers a ON a.event_id = s.event_id AND a.user_id = s.user_id"
            " WHERE s.user_id = ? ORDER BY s.asked_at, s.event_id, a.question",
            (user_id,),
        )
        return [GivenAnswer(int(r[0]), int(r[1]), int(r[2]), from_db(r[3])) for r in rows]

    async def delete_for_user(self, user_id: int) -> int:
        """Deletion on request: the citizen's answers and their being asked go (the count asked stays)."""
        # Found through their questionnaires (the primary key leads with the event): no index by user.
        answers = await self._run(
            "DELETE FROM survey_answers WHERE user_id = ?1"
            " AND event_id IN (SELECT event_id FROM survey_recipients WHERE user_id = ?1)",
            (user_id,),
        )
        await self._run("DELETE FROM survey_recipients WHERE user_id = ?", (user_id,))
        return answers

    async def keep_counts_only(self, closed_before: datetime, limit: int) -> int:
        """Retention: questionnaires closed before `closed_before` keep their counts (all the summary
        and `events survey` show), stored with the questions, and lose who was asked and who answered
        what. At most `limit` questionnaires; returns how many. Idempotent: one that asked no one left
        is never found again."""
        rows = await self._all(
            "SELECT f.* FROM event_followups f WHERE f.survey_closed_at IS NOT NULL"
            " AND f.survey_closed_at <= ?"
            " AND EXISTS (SELECT 1 FROM survey_recipients s WHERE s.event_id = f.event_id)"
            " ORDER BY f.survey_closed_at, f.event_id LIMIT ?",
            (to_db(closed_before), limit),
        )
        for row in rows:
            survey = _survey(row)
            tally = await self.tally(survey)
            kept = {
                "questions": [{"text": q.text, "choices": list(q.choices)} for q in survey.questions],
                "counts": [list(c) for c in tally.counts],
                "answered": tally.answered,
            }
            await self._run(
                "UPDATE event_followups SET survey_questions = ? WHERE event_id = ?",
                (json.dumps(kept, ensure_ascii=False), survey.event_id),
            )
            await self._run("DELETE FROM survey_answers WHERE event_id = ?", (survey.event_id,))
            await self._run("DELETE FROM survey_recipients WHERE event_id = ?", (survey.event_id,))
        return len(rows)

    async def _ensure(self, event_id: int) -> None:
        await self._run(
            "INSERT INTO event_followups (event_id) VALUES (?) ON CONFLICT (event_id) DO NOTHING", (event_id,)
        )


def _survey(row: aiosqlite.Row) -> Survey:
    """A survey from its `event_followups` row (one whose questionnaire was sent). Its questions are a
    list as sent; an object with the counts once the answers went (`keep_counts_only`)."""
    stored = json.loads(row["survey_questions"])
    kept = stored if isinstance(stored, dict) else None
    questions = tuple(
        Question(str(q["text"]), tuple(str(c) for c in q["choices"]))
        for q in (stored if kept is None else kept["questions"])
    )
    counted = (
        None
        if kept is None
        else Tally(tuple(tuple(int(n) for n in c) for c in kept["counts"]), int(kept["answered"]))
    )
    return Survey(
        event_id=int(row["event_id"]),
        questions=questions,
        sent_at=from_db(row["survey_sent_at"]),
        closes_at=from_db(row["survey_closes_at"]),
        asked=int(row["survey_asked"]),
        closed_at=opt_from_db(row["survey_closed_at"]),
        counted=counted,
    )
