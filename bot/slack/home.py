"""App Home and /madoguchi answers as Block Kit. Translation only.

Names and titles go into mrkdwn escaped (bot/slack/mrkdwn.py), so they ping no one and link nowhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta, tzinfo
from typing import Any

from bot.config import Settings
from bot.slack.card import case_blocks
from bot.slack.mrkdwn import escape, escape_cut
from flows.dashboard import Dashboard, Stats
from flows.texts import Texts
from storage.cases import Case
from storage.ops_alerts import OpsAlert

# The most cases `/madoguchi cases` lists, and App Home in each of its sections.
COMMAND_CASES = 50
HOME_CASES = 20


def _case_line(case: Case, settings: Settings, texts: Texts) -> str:
    return texts.get(
        "home.case_line",
        number=case.number,
        category=escape(settings.category_label(case.category)),
        status=texts.get(f"staff.status_{case.status}"),
        person=escape_cut(case.person_name, 200),
    )


def _section(title: str, lines: list[str], texts: Texts, hidden: int = 0) -> list[dict[str, Any]]:
    shown = lines[:HOME_CASES]
    if hidden:  # cases the viewer is not staff of: a count, no names
        shown.append(texts.get("home.hidden", count=hidden))
    body = "\n".join(shown) if shown else texts.get("home.none")
    return [
        {"type": "header", "text": {"type": "plain_text", "text": title}},
        {"type": "section", "text": {"type": "mrkdwn", "text": body[:2900]}},
    ]


def home_view(board: Dashboard, settings: Settings, texts: Texts, tz: tzinfo) -> dict[str, Any]:
    event_lines = [
        texts.get(
            "home.event_line",
            when=event.starts_at.astimezone(tz).strftime("%m/%d %H:%M"),
            title=escape(event.title),
            taken=taken,
            capacity=event.capacity if event.capacity is not None else texts.get("home.unlimited"),
        )
        for event, taken in board.events
    ]
    notes = []
    if board.hidden_mine or board.hidden_unclaimed or board.hidden_overdue:
        notes.append(texts.get("home.restricted"))
    if board.unchecked:
        notes.append(texts.get("home.unchecked"))
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": texts.get("home.title")}},
        *[{"type": "context", "elements": [{"type": "mrkdwn", "text": note}]} for note in notes],
        {"type": "divider"},
        *_section(
            texts.get("home.mine"),
            [_case_line(c, settings, texts) for c in board.mine],
            texts,
            board.hidden_mine,
        ),
        *_section(
            texts.get("home.unclaimed"),
            [_case_line(c, settings, texts) for c in board.unclaimed],
            texts,
            board.hidden_unclaimed,
        ),
        *_section(
            texts.get("home.overdue"),
            [_case_line(c, settings, texts) for c in board.overdue],
            texts,
            board.hidden_overdue,
        ),
        *_section(texts.get("home.events"), event_lines, texts),
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": texts.get("staff_events.create")},
                    "action_id": "event_create",
                    "value": "new",
                }
            ],
        },
    ]
    return {"type": "home", "blocks": blocks}


def cases_text(
    cases: list[Case], settings: Settings, texts: Texts, hidden: int = 0, unchecked: bool = False
) -> str:
    """The open cases the caller is staff of; the others only as a count."""
    lines = [_case_line(c, settings, texts) for c in cases[:COMMAND_CASES]]
    if hidden:
        lines.append(texts.get("command.hidden", count=hidden))
    if unchecked:
        lines.append(texts.get("home.unchecked"))
    return "\n".join(lines) if lines else texts.get("command.no_cases")


def case_detail(
    case: Case, settings: Settings, texts: Texts, earlier: Sequence[str] = (), booking: str | None = None
) -> list[dict[str, Any]]:
    label = settings.category_label(case.category)
    blocks = case_blocks(case, label, texts, settings.center.tz, earlier, booking)
    return [b for b in blocks if b["type"] != "actions"]  # buttons live on the card in its channel


def stats_text(stats: Stats, texts: Texts, alerts: list[OpsAlert], tz: tzinfo) -> str:
    median = (
        texts.get("command.no_median")
        if stats.median_first_answer is None
        else _duration(stats.median_first_answer)
    )
    text = texts.get("command.stats", open=stats.open_cases, closed=stats.closed_this_month, median=median)
    if not alerts:
        return text
    lines = [
        texts.get(
            "ops.stats_line",
            label=texts.get(f"ops.label_{alert.cause}"),
            count=alert.count,
            last=alert.last_at.astimezone(tz).strftime("%m/%d %H:%M"),
        )
        for alert in alerts
    ]
    return "\n".join([text, "", texts.get("ops.stats_title"), *lines])


def _duration(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    days, minutes = divmod(minutes, 60 * 24)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days}日{hours}時間"
    return f"{hours}時間{minutes}分" if hours else f"{minutes}分"
