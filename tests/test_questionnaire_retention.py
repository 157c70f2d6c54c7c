"""Review 42 R3: a questionnaire's answers are not kept linked to the citizens for ever. The retention
sweep lets go of who was asked and who answered what `[privacy] purge_undelivered_after_days` after it
closed; its counts (all the summary and `madoguchi events survey` show) are kept."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.config import Settings
from bot.event_digest import survey_report
from bot.retention import RetentionSweeper
from bot.sandbox.fake_line import FakeLine
from flows.messages import Text
from storage import Database
from storage.questionnaire import Survey
from tests.flows.test_desk import TEXTS, Citizen
from tests.test_questionnaire import SENT, Clock, configured, held, sweep

LINE_IDS = [f"U{n:032x}" for n in range(3)]
CLOSED = Text(TEXTS.get("questionnaire.closed"))


@pytest.fixture
async def world(tmp_path: Path, line: FakeLine) -> AsyncIterator[tuple[Database, Settings]]:
    """The configured database file (the one `madoguchi events survey` opens)."""
    settings = configured(tmp_path, line)
    db = await Database.open(settings.database_path)
    try:
        yield db, settings
    finally:
        await db.close()


def linked(path: Path) -> list[tuple[str, int, int]]:
    """Every answer still tied to a LINE user id, read from the file by another connection."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT u.line_user_id, a.question, a.choice FROM survey_answers a"
            " JOIN users u ON u.id = a.user_id ORDER BY 1, 2"
        ).fetchall()
        asked = conn.execute("SELECT count(*) FROM survey_recipients").fetchone()[0]
    return [(str(r[0]), int(r[1]), int(r[2])) for r in rows] + [("asked", asked, 0)] * bool(asked)


async def answered_and_closed(db: Database, settings: Settings, uid: str = "salon") -> Survey:
    """Three with a seat asked; two answer (不満, then 満足 + ぜひ参加したい); it closes (summary queued)."""
    event_id = await held(db, uid)
    await sweep(db, settings, Clock(SENT)).run()
    survey = await db.read.questionnaire.survey(event_id)
    assert survey is not None
    users = [await db.read.users.by_line_id(i) for i in LINE_IDS[:2]]
    async with db.transaction() as tx:
        for user, answers in zip(users, ([(1, 4)], [(1, 1), (2, 1)]), strict=True):
            assert user is not None
            for question, choice in answers:
                assert (await tx.questionnaire.answer(survey, user.id, question, choice, SENT)).accepted
    await sweep(db, settings, Clock(survey.closes_at)).run()
    closed = await db.read.questionnaire.survey(event_id)
    assert closed is not None and closed.closed_at == survey.closes_at
    return closed


async def csv(settings: Settings, event_id: int, tmp_path: Path) -> list[str]:
    out = tmp_path / f"survey-{event_id}.csv"
    assert await survey_report(settings, str(event_id), str(out)) == 0
    return out.read_text(encoding="utf-8-sig").splitlines()


async def test_after_the_period_only_the_counts_are_kept(
    world: tuple[Database, Settings], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db, settings = world
    survey = await answered_and_closed(db, settings)
    assert survey.closed_at is not None
    tally = await db.read.questionnaire.tally(survey)
    assert tally.counts == ((1, 0, 0, 1), (1, 0, 0)) and tally.answered == 2
    report = await csv(settings, survey.event_id, tmp_path)
    due = survey.closed_at + timedelta(days=settings.privacy.purge_undelivered_after_days)

    await RetentionSweeper(db, settings, lambda: due - timedelta(seconds=1)).run()
    assert len(linked(db.path)) == 4  # within the period: kept (a late answer is told it closed)

    caplog.set_level(logging.INFO, logger="madoguchi.retention")
    await RetentionSweeper(db, settings, lambda: due).run()
    assert linked(db.path) == []
    [purged] = [r for r in caplog.records if r.getMessage() == "retention.purged"]
    assert purged.fields["surveys"] == 1  # type: ignore[attr-defined]
    kept = await db.read.questionnaire.survey(survey.event_id)
    assert kept is not None and kept.questions == survey.questions and kept.asked == 3
    assert await db.read.questionnaire.tally(kept) == tally
    assert await csv(settings, survey.event_id, tmp_path) == report
    for line_id in LINE_IDS:
        user = await db.read.users.by_line_id(line_id)
        assert user is not None and await db.read.questionnaire.answers_of(user.id) == []

    later = due + timedelta(days=400)
    await RetentionSweeper(db, settings, lambda: later).run()  # found no more: nothing changes
    again = await db.read.questionnaire.survey(survey.event_id)
    assert again == kept and await db.read.questionnaire.tally(again) == tally


async def test_an_open_questionnaire_and_one_closed_lately_are_untouched(
    world: tuple[Database, Settings],
) -> None:
    db, settings = world
    survey = await answered_and_closed(db, settings, "old")
    assert survey.closed_at is not None
    now = survey.closed_at + timedelta(days=settings.privacy.purge_undelivered_after_days)
    ends = now - timedelta(hours=3)
    open_id = await held(db, "open", ends=ends)
    await sweep(db, settings, Clock(now)).run()  # its questionnaire goes out (open for 3 days)
    opened = await db.read.questionnaire.survey(open_id)
    user = await db.read.users.by_line_id(LINE_IDS[2])
    assert opened is not None and opened.open_at(now) and user is not None
    async with db.transaction() as tx:
        assert (await tx.questionnaire.answer(opened, user.id, 1, 2, now)).accepted
    await RetentionSweeper(db, settings, lambda: now).run()
    assert linked(db.path) == [(LINE_IDS[2], 1, 2), ("asked", 3, 0)]  # the open one's, only
    assert (await db.read.questionnaire.pending(user.id, now)) == (opened, 2)


async def test_many_closed_questionnaires_go_in_bounded_batches(world: tuple[Database, Settings]) -> None:
    db, settings = world
    surveys = [await answered_and_closed(db, settings, f"s{n}") for n in range(3)]
    last = max(s.closed_at for s in surveys if s.closed_at is not None)
    now = last + timedelta(days=settings.privacy.purge_undelivered_after_days)
    await RetentionSweeper(db, settings, lambda: now, survey_batch=2).run()
    assert linked(db.path) == []
    for survey in surveys:
        kept = await db.read.questionnaire.survey(survey.event_id)
        assert kept is not None and (await db.read.questionnaire.tally(kept)).answered == 2


async def test_after_the_link_is_gone_a_late_tap_is_told_it_closed(world: tuple[Database, Settings]) -> None:
    db, settings = world
    survey = await answered_and_closed(db, settings)
    assert survey.closed_at is not None
    now: datetime = survey.closed_at + timedelta(days=settings.privacy.purge_undelivered_after_days)
    await RetentionSweeper(db, settings, lambda: now).run()
    citizen = Citizen(db, now, LINE_IDS[2])  # asked, never answered
    assert (await citizen.tap(f"survey:{survey.event_id}:1:1")).messages[
        0
    ] == CLOSED  # not 「お答えいただけません」
