"""The first sweep after the upgrade to EventDigest rewrites the day-before lists the older version
queued as finished ChannelPosts (review 41, D1, D2). Each list must go to its own event: the older
version claimed the list (`claim_digest`: the start and the moment) in the transaction that queued its
posts, so the row's `created_at` names its claim; the title alone does not (two sessions of one talk
share it, and the older version escaped it otherwise than today's mrkdwn.escape)."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest

from bot.config import Settings
from bot.event_digest import digest_posts
from bot.sandbox.fake_line import FakeLine
from flows.texts import Texts
from storage import Database
from storage.outbox import OutboxMessage
from storage.outbox_rows import ChannelPost, EventDigest
from tests.test_event_digest import (
    CHANNEL,
    DUE,
    STARTS,
    Clock,
    add_event,
    channel_posts,
    service,
    sign_up,
    with_events_channel,
)

TITLE = "NPO設立説明会"


@pytest.fixture
def events_settings(tmp_path: Path, line: FakeLine) -> Settings:
    return with_events_channel(tmp_path, line.base_url, CHANNEL)


def older_escape(text: str) -> str:
    """mrkdwn.escape as the version before 0a3b627 (so the older version's lists) wrote titles."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


async def older_list(db: Database, settings: Settings, event_id: int, parts: int = 1) -> list[OutboxMessage]:
    """A list as the version before EventDigest queued it, in `parts` posts: claimed, and its posts
    with the names in them queued, in one transaction, the title escaped as that version did."""
    texts = Texts.load()
    event = await db.read.events.get(event_id)
    assert event is not None
    title = older_escape(event.title)
    async with db.transaction() as tx:
        assert await tx.questionnaire.claim_digest(event_id, event.starts_at, DUE)
        roster = await tx.questionnaire.roster(event_id)
        [first] = digest_posts(event, roster, settings, texts)
        fallback = texts.get("digest.fallback", title=title, taken=roster.seats_taken)
        posts = [ChannelPost(fallback, first.blocks)]
        for part in range(2, parts + 1):
            top = texts.get("digest.continued", title=title, part=part, parts=parts)
            blocks = [
                {"type": "section", "text": {"type": "mrkdwn", "text": text}} for text in (top, "2. 名前")
            ]
            posts.append(ChannelPost(fallback, blocks))
        queued = [await tx.outbox.add(post, CHANNEL, DUE) for post in posts]
    return queued


def state(rows: list[OutboxMessage]) -> list[tuple[str, object, str | None]]:
    return [(m.status, m.row if m.payload != "{}" else None, m.last_error) for m in rows]


async def sessions(db: Database) -> tuple[int, int]:
    """A morning and an afternoon session of one talk: the same title, the same day."""
    morning = await add_event(db, uid="talk-am", title=TITLE)
    afternoon = await add_event(db, uid="talk-pm", title=TITLE, starts_at=STARTS + timedelta(hours=4),
                                ends_at=STARTS + timedelta(hours=6))  # fmt: skip
    await sign_up(db, morning, "U_AM", name="午前の人")
    await sign_up(db, afternoon, "U_PM", name="午後の人")
    return morning, afternoon


async def test_two_sessions_with_the_same_title_each_keep_their_own_list(
    db: Database, events_settings: Settings
) -> None:
    morning, afternoon = await sessions(db)
    await older_list(db, events_settings, morning)
    await older_list(db, events_settings, afternoon)
    await service(db, events_settings, Clock(DUE + timedelta(minutes=1))).run()
    rows = await channel_posts(db)
    assert state(rows) == [
        ("pending", EventDigest(morning), None),
        ("pending", EventDigest(afternoon), None),
    ]


async def test_a_later_part_whose_first_was_posted_goes_to_its_own_session(
    db: Database, events_settings: Settings
) -> None:
    """Slack went down after the morning list's part 1: its part 2 is the only post left of that list,
    and its head names no start. The older version queued the lists in the order of their start."""
    morning, afternoon = await sessions(db)
    first, _ = await older_list(db, events_settings, morning, parts=2)
    await older_list(db, events_settings, afternoon, parts=2)
    async with db.transaction() as tx:
        assert await tx.outbox.mark_sent(first.id, DUE, "chat.postMessage", attempts=0)
    await service(db, events_settings, Clock(DUE + timedelta(minutes=1))).run()
    assert state(await channel_posts(db))[1:] == [
        ("pending", EventDigest(morning, 2), None),
        ("pending", EventDigest(afternoon), None),
        ("cancelled", None, "legacy list: redrawn"),  # the redrawn list queues its own part 2
    ]


async def test_a_list_of_an_event_whose_title_has_a_styling_character_is_found(
    db: Database, events_settings: Settings
) -> None:
    """Today's escape shows * _ ~ ` full-width and puts a web address in <…>; the older version wrote
    the title with & < > escaped only. Two events, so that the title has to tell them apart."""
    title = "*初心者向け* ボランティア講座 ~入門~ https://example.org/a_b"
    event_id = await add_event(db, title=title)
    other = await add_event(db, uid="other", title="ほかの講座", starts_at=STARTS + timedelta(hours=1))
    await sign_up(db, event_id, "U_A", name="参加者A")
    await older_list(db, events_settings, other)
    [legacy] = await older_list(db, events_settings, event_id)
    assert f"「{title}」" in legacy.payload
    await service(db, events_settings, Clock(DUE + timedelta(minutes=1))).run()
    assert state(await channel_posts(db)) == [
        ("pending", EventDigest(other), None),
        ("pending", EventDigest(event_id), None),
    ]


async def test_a_list_of_an_event_moved_since_is_dropped_for_its_new_day(
    db: Database, events_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """The older list shows the old day; the moved event gets a list of its own at its new day's time.
    The list of another event claimed in the same sweep is its own, not the moved one's."""
    event_id = await add_event(db)
    other = await add_event(db, uid="other", title="ほかの講座", starts_at=STARTS + timedelta(hours=1))
    await sign_up(db, event_id, "U_A", name="参加者A")
    [legacy] = await older_list(db, events_settings, event_id)
    await older_list(db, events_settings, other)
    moved = STARTS + timedelta(days=7)
    await add_event(db, starts_at=moved, ends_at=moved + timedelta(hours=2))
    with caplog.at_level(logging.WARNING, logger="madoguchi.event_digest"):
        await service(db, events_settings, Clock(DUE + timedelta(minutes=1))).run()
    assert state(await channel_posts(db)) == [
        ("cancelled", None, "legacy list: event not found"),
        ("pending", EventDigest(other), None),
    ]
    dropped = [vars(r)["fields"] for r in caplog.records if r.msg == "event_digest.legacy_list_dropped"]
    assert dropped == [{"id": legacy.id}]
    await service(db, events_settings, Clock(DUE + timedelta(days=7))).run()
    assert state(await channel_posts(db))[2:] == [("pending", EventDigest(event_id), None)]
