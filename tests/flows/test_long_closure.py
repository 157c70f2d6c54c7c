"""A closure of months (改修工事のため休館, listed in [business_hours] closed_dates): a consultation
started during it is told when the center reopens, or, past the calendar's horizon, that the date is not
known yet; business minutes are counted without error during and after it (escalation, dashboard). A
calendar with no open weekday is refused when the configuration is loaded. Real storage, hand-set clock.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import BusinessHoursSettings, ConfigError, load_settings
from flows.business_hours import HORIZON_DAYS, BusinessCalendar
from flows.dashboard import dashboard
from flows.desk import Reply, respond
from flows.escalation import overdue_cases
from flows.messages import Inbound, Text
from storage import Database
from storage.cases import Case
from tests.conftest import NOW
from tests.flows.test_desk import TEXTS, TOKYO, Citizen, desk_context
from tests.test_config import MINIMAL, write

TODAY = NOW.astimezone(TOKYO).date()  # Monday 30 November 2026, 10:00 in Tokyo


def closed_for(days: int) -> BusinessCalendar:
    """Weekdays 9:00-17:00 (the defaults), closed from today for `days` days."""
    closure = [TODAY + timedelta(days=n) for n in range(days)]
    return BusinessHoursSettings(closed_dates=closure).calendar(TOKYO)


async def say(db: Database, calendar: BusinessCalendar, now: datetime, inbound: Inbound) -> Reply:
    async with db.transaction() as tx:
        user = await tx.users.ensure("U_HANAKO", now)
        return await respond(inbound, user, tx, replace(desk_context(now), calendar=calendar))


def texts_of(reply: Reply) -> list[str]:
    return [m.text for m in reply.messages if isinstance(m, Text)]


async def test_a_consultation_during_a_three_month_closure_is_told_the_reopening_day(db: Database) -> None:
    # 90 days from Monday 30 November: the last closed day is Saturday 27 February 2027.
    reply = await say(db, closed_for(90), NOW, Inbound("text", text="相談する"))
    first = texts_of(reply)[0]
    assert "受付時間外" in first and "3月1日(月) 9:00以降" in first, first
    assert len(reply.messages) > 1  # then the privacy notice and the first question


async def test_a_closure_past_the_horizon_says_the_reopening_is_not_known(db: Database) -> None:
    calendar = closed_for(HORIZON_DAYS + 30)
    assert calendar.next_opening(NOW) is None and calendar.answer_due(NOW, 3) is None
    reply = await say(db, calendar, NOW, Inbound("text", text="相談する"))
    first = texts_of(reply)[0]
    assert first == TEXTS.get("out_of_hours.no_reopening")
    # The consultation can still be sent: confirmed without a promised date, the notice after it.
    citizen = Citizen(db)
    for step in ("yes", "npo"):
        await say(db, calendar, NOW, Inbound("choice", value=step))
    for typed in ("個人", "山田 花子", "ヤマダ　ハナコ"):
        await say(db, calendar, NOW, Inbound("text", text=typed))
    await say(db, calendar, NOW, Inbound("choice", value="line"))
    await say(db, calendar, NOW, Inbound("text", text="NPOを立ち上げたいです。"))
    await say(db, calendar, NOW, Inbound("choice", value="flow:done"))
    await say(db, calendar, NOW, Inbound("choice", value="flow:skip"))
    confirmed = await say(db, calendar, NOW, Inbound("choice", value="flow:confirm"))
    [case] = await citizen.cases()
    assert texts_of(confirmed) == [
        TEXTS.get("intake.received", number=case.number, days=3),
        TEXTS.get("out_of_hours.no_reopening"),
    ]
    assert case.answer_due_at is None


async def unclaimed_case(db: Database) -> Case:
    return await Citizen(db).open_case()  # received Monday 30 November 10:00, the closure's first day


async def test_escalation_and_the_dashboard_count_nothing_during_a_closure_and_go_on_after_it(
    db: Database,
) -> None:
    calendar = closed_for(90)
    case = await unclaimed_case(db)
    for now in (NOW + timedelta(days=30), datetime(2027, 3, 1, 9, 59, tzinfo=TOKYO)):
        async with db.transaction() as tx:
            assert await overdue_cases(tx, now, calendar, 60, 240) == []
            assert (await dashboard(tx, "U_STAFF", now, calendar, 60)).overdue == []
    # Reopened on Monday 1 March at 9:00: 60 business minutes at 10:00, 240 at 13:00.
    reopened_plus_hour = datetime(2027, 3, 1, 10, 0, tzinfo=TOKYO)
    async with db.transaction() as tx:
        assert [
            (o.case.id, o.level) for o in await overdue_cases(tx, reopened_plus_hour, calendar, 60, 240)
        ] == [(case.id, "mention")]
        assert [c.id for c in (await dashboard(tx, "U_STAFF", reopened_plus_hour, calendar, 60)).overdue] == [
            case.id
        ]
        afternoon = datetime(2027, 3, 1, 13, 0, tzinfo=TOKYO)
        assert [o.level for o in await overdue_cases(tx, afternoon, calendar, 60, 240)] == ["escalate"]


async def test_business_minutes_past_the_horizon_are_counted_up_to_now(db: Database) -> None:
    calendar = closed_for(HORIZON_DAYS + 30)
    await unclaimed_case(db)
    reopening = datetime.combine(TODAY + timedelta(days=HORIZON_DAYS + 30), datetime.min.time(), TOKYO)
    async with db.transaction() as tx:
        assert await overdue_cases(tx, reopening, calendar, 60, 240) == []
        later = reopening + timedelta(days=7)  # a week after, whatever the weekdays and holidays
        assert [o.level for o in await overdue_cases(tx, later, calendar, 60, 240)] == ["escalate"]


def test_a_calendar_that_never_opens_is_refused_at_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    closed = "".join(f'{day} = ""\n' for day in ("monday", "tuesday", "wednesday", "thursday", "friday"))
    path = write(tmp_path, MINIMAL + "\n[business_hours]\n" + closed)
    with pytest.raises(ConfigError, match=r"business_hours: every weekday is \"\" \(closed\)"):
        load_settings(path, environ={})
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "business_hours: every weekday" in err and err.count("\n") == 1
    # One open day is enough.
    settings = load_settings(
        write(tmp_path, MINIMAL + "\n[business_hours]\n" + closed + 'saturday = "10:00-12:00"\n'), environ={}
    )
    assert settings.calendar.next_opening(NOW) is not None
