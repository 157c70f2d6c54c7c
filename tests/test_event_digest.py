"""The day-before list for staff, in one process with an injected clock, posted through the real Slack SDK
to the fake Slack (which refuses a section over 3,000 characters and a message over 50 blocks, as Slack
does: tests/sandbox/test_fake_slack.py::test_content_checks)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import ConfigError, Settings, load_settings
from bot.delivery import RetryPolicy
from bot.event_digest import MAX_BLOCKS, MAX_SECTION_TEXT, digest_due_at, digest_posts, draw_digest
from bot.outbox_worker import OutboxWorker
from bot.reminders import ReminderService
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.fake_slack import FakeSlack
from bot.slack.sender import SlackSender
from flows.texts import Texts
from storage import Database
from storage.cases import NewCase
from storage.events import EventDraft
from storage.outbox import OutboxMessage
from storage.outbox_rows import ChannelPost, EventDigest
from storage.questionnaire import Registrant, Roster
from tests.conftest import NOW
from tests.harness import settings_for, wait_for, write_config

CHANNEL = "C_EVENTS"
# 2026-12-03 19:00 in Tokyo, a Thursday: the list is due 12月2日(水) 10:00 in Tokyo, 01:00 UTC.
STARTS = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
DUE = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def settings(tmp_path: Path, line: FakeLine) -> Settings:
    return with_events_channel(tmp_path, line.base_url, CHANNEL)


def with_events_channel(
    tmp_path: Path, line_url: str, channel: str, extra: str = "", **config: Any
) -> Settings:
    """The test configuration with `[slack] events_channel` (the harness writes [slack] itself)."""
    path = write_config(tmp_path, line_url, extra, **config)
    text = path.read_text(encoding="utf-8").replace(
        "[slack]\n", f'[slack]\nevents_channel = "{channel}"\n', 1
    )
    path.write_text(text, encoding="utf-8")
    return load_settings(path, environ={})


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


def service(db: Database, settings: Settings, clock: Clock) -> ReminderService:
    return ReminderService(db, settings, Texts.load(), clock)


async def add_event(db: Database, uid: str = "salon-1203", capacity: int | None = 4, **changes: Any) -> int:
    draft = EventDraft(
        uid=uid,
        kind="salon",
        title="ミズベサロン 12月",
        starts_at=STARTS,
        ends_at=STARTS + timedelta(hours=2),
        venue="横浜市市民協働推進センター",
        capacity=capacity,
    )
    async with db.transaction() as tx:
        event = await tx.events.upsert(replace(draft, **changes), NOW)
    return event.id


async def sign_up(
    db: Database, event_id: int, line_id: str, status: str = "registered", *, name: str | None = None,
    case_name: str | None = None, party: int = 1,
) -> None:  # fmt: skip
    async with db.transaction() as tx:
        user = await tx.users.mark_followed(line_id, NOW)
        if name is not None:
            await tx.users.set_display_name(user.id, name, NOW)
        if case_name is not None:
            new = NewCase(user.id, "general", "individual", case_name, "line", "相談内容")
            await tx.cases.create(new, NOW, 2026)
        await tx.registrations.put(event_id, user.id, status, party, NOW)  # type: ignore[arg-type]


async def channel_posts(db: Database) -> list[OutboxMessage]:
    return await db.read.outbox.in_order(f"slack:{CHANNEL}")


async def post_of(db: Database, settings: Settings, message: OutboxMessage) -> ChannelPost:
    """The first post of a queued list, drawn as the sender would draw it now."""
    row = message.row
    assert isinstance(row, EventDigest)
    drawn = await draw_digest(db.read, row, NOW, settings, Texts.load())
    assert drawn is not None
    return drawn[0]


def shown(post: ChannelPost) -> str:
    return "\n".join(
        str(b["text"]["text"]) if b["type"] == "section" else str(b["elements"][0]["text"])
        for b in post.blocks
    )


async def deliver(db: Database, settings: Settings, slack: FakeSlack, clock: Clock) -> None:
    """Run the outbox against the fake Slack until nothing Slack-bound is pending."""
    client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)
    sender = SlackSender(client, db, settings, Texts.load(), clock=clock)
    worker = OutboxWorker(db, clock, {"slack": sender}, RetryPolicy(max_attempts=1, base_delay=0.01))
    worker.start()
    try:

        async def drained() -> bool:
            return not await db.read.outbox.due(clock() + timedelta(days=1), ["slack"])

        await wait_for(drained)
    finally:
        await worker.stop()


async def test_the_list_is_posted_once_at_its_time_across_two_sweeps_and_a_restart(
    db: Database, settings: Settings, slack: FakeSlack
) -> None:
    event_id = await add_event(db)
    await sign_up(db, event_id, "U_A", name="はなこ", case_name="山田 花子")
    await sign_up(db, event_id, "U_B", name="<!channel> たろう", party=2)
    await sign_up(db, event_id, "U_C")
    await sign_up(db, event_id, "U_W1", "waitlisted", name="待つ人1")
    await sign_up(db, event_id, "U_W2", "waitlisted", name="待つ人2")
    await sign_up(db, event_id, "U_X", "cancelled", name="取り消した人")
    assert digest_due_at(STARTS, settings) == DUE

    clock = Clock(DUE - timedelta(minutes=1))
    await service(db, settings, clock).run()
    assert await channel_posts(db) == []  # not yet
    clock.now = DUE
    first = service(db, settings, clock)
    await first.run()
    await first.run()
    clock.now = DUE + timedelta(hours=5)
    await service(db, settings, clock).run()  # a restart: a new service on the same database
    [message] = await channel_posts(db)
    post = await post_of(db, settings, message)
    text = shown(post)
    assert "*明日のイベント：ミズベサロン 12月*" in text
    assert "12月3日(木) 19:00" in text and "横浜市市民協働推進センター" in text
    assert "お申し込み：4名（定員4名）　キャンセル待ち：2名" in text
    # The LINE name, never the name given in a consultation (that is for the case's staff).
    assert "1. はなこ（LINE名）\n2. &lt;!channel&gt; たろう（LINE名）（2名）\n3. お名前の登録なし" in text
    assert "山田" not in text
    assert "待つ人" not in text and "取り消した人" not in text
    assert post.text == "明日のイベント「ミズベサロン 12月」：お申し込み4名"  # the notification: no names

    await deliver(db, settings, slack, clock)
    [posted] = slack.messages_in(CHANNEL)
    assert slack.alarms(posted) == []  # the display name's <!channel> pings nobody
    assert "はなこ（LINE名）" in json.dumps(posted["blocks"], ensure_ascii=False)


async def test_a_late_sweep_posts_once_before_the_start_and_nothing_after(
    db: Database, settings: Settings
) -> None:
    await add_event(db, "late", title="遅れても届く会")
    await add_event(db, "started", title="もう始まった会", starts_at=STARTS - timedelta(hours=8))
    clock = Clock(STARTS - timedelta(hours=1))  # the bot was down from before either list's time
    reminders = service(db, settings, clock)
    await reminders.run()
    await reminders.run()
    posts = [await post_of(db, settings, m) for m in await channel_posts(db)]
    assert len(posts) == 1
    assert "遅れても届く会" in shown(posts[0]) and "お申し込みはまだありません" in shown(posts[0])


async def test_a_cancelled_event_gets_no_list(db: Database, settings: Settings) -> None:
    event_id = await add_event(db)
    await sign_up(db, event_id, "U_A", name="はなこ")
    async with db.transaction() as tx:
        await tx.events.set_status(event_id, "cancelled", NOW)
    await service(db, settings, Clock(DUE + timedelta(minutes=1))).run()
    assert await channel_posts(db) == []


async def test_no_events_channel_no_list(db: Database, tmp_path: Path, line: FakeLine) -> None:
    settings = settings_for(tmp_path, line.base_url)
    assert settings.slack.events_channel == ""
    event_id = await add_event(db)
    await sign_up(db, event_id, "U_A", name="はなこ")
    await service(db, settings, Clock(DUE + timedelta(minutes=1))).run()
    assert await db.read.outbox.due(DUE + timedelta(days=1), ["slack"]) == []
    assert await db.read.questionnaire.digest_candidates(NOW, STARTS) == [event_id]  # not claimed either


async def test_a_moved_event_gets_a_list_for_its_new_day(db: Database, settings: Settings) -> None:
    event_id = await add_event(db)
    clock = Clock(DUE)
    await service(db, settings, clock).run()
    await add_event(db, starts_at=STARTS + timedelta(days=7), ends_at=STARTS + timedelta(days=7, hours=2))
    await service(db, settings, clock).run()
    assert len(await channel_posts(db)) == 1  # the new day's list is not due yet
    clock.now = DUE + timedelta(days=7)
    await service(db, settings, clock).run()
    posts = [await post_of(db, settings, m) for m in await channel_posts(db)]
    assert len(posts) == 2 and "12月10日(木) 19:00" in shown(posts[1])
    assert event_id == (await db.read.events.all_events())[0].id


async def test_300_registrants_fit_slack_limits_and_every_name_arrives(
    db: Database, settings: Settings, slack: FakeSlack
) -> None:
    event_id = await add_event(db, capacity=300)
    names = [f"市民活動 参加者{n:03d} 横浜市中区本町一丁目" for n in range(300)]
    for n, name in enumerate(names):
        await sign_up(db, event_id, f"U{n:032x}", name=name)
    clock = Clock(DUE)
    await service(db, settings, clock).run()
    [message] = await channel_posts(db)
    event = await db.read.events.get(event_id)
    assert event is not None and message.row == EventDigest(event_id)
    posts = digest_posts(event, await db.read.questionnaire.roster(event_id), settings, Texts.load())
    for post in posts:
        assert len(post.blocks) <= MAX_BLOCKS
        assert all(len(b["text"]["text"]) <= MAX_SECTION_TEXT for b in post.blocks if b["type"] == "section")
    assert sum(b["type"] == "section" for b in posts[0].blocks) > 3  # the list did need splitting
    await deliver(db, settings, slack, clock)
    delivered = json.dumps([m["blocks"] for m in slack.messages_in(CHANNEL)], ensure_ascii=False)
    assert len(slack.messages_in(CHANNEL)) == len(posts)
    assert all(f"{n + 1}. {name}（LINE名）" in delivered for n, name in enumerate(names))
    assert "お申し込み：300名（定員300名）" in delivered


async def test_a_list_longer_than_one_message_is_split_into_posts(
    db: Database, settings: Settings, slack: FakeSlack
) -> None:
    """Far more names than 50 sections hold (a 100,000-seat event): several posts, in order, all accepted."""
    texts = Texts.load()
    event_id = await add_event(db, capacity=None)
    event = await db.read.events.get(event_id)
    assert event is not None
    registrants = tuple(Registrant(n, f"名前{n:05d}" + "あ" * 40, "line", 1, n) for n in range(1, 4001))
    posts = digest_posts(event, Roster(registrants, 4000, 0), settings, texts)
    assert len(posts) > 1
    assert all(len(p.blocks) <= MAX_BLOCKS for p in posts)
    assert "続き 2/" in shown(posts[1]) and "スタッフ用" in shown(posts[-1])
    # Through the sweep and the sender: one row queued, each part queuing the next once posted.
    async with db.transaction() as tx:
        for n in range(1, 1501):
            user = await tx.users.mark_followed(f"U{n:032x}", NOW)
            await tx.users.set_display_name(user.id, f"名前{n:05d}" + "あ" * 90, NOW)
            await tx.registrations.put(event_id, user.id, "registered", 1, NOW)
    clock = Clock(DUE)
    await service(db, settings, clock).run()
    assert [m.row for m in await channel_posts(db)] == [EventDigest(event_id)]
    await deliver(db, settings, slack, clock)
    delivered = slack.messages_in(CHANNEL)
    rows = await channel_posts(db)
    assert len(delivered) > 1 and [m.status for m in rows] == ["sent"] * len(delivered)
    text = json.dumps([m["blocks"] for m in delivered], ensure_ascii=False)
    assert text.index("1. 名前00001") < text.index("1500. 名前01500")
    assert "続き 2/" in text and text.count("スタッフ用") == 1


@pytest.mark.parametrize(
    ("toml", "key", "message"),
    [
        ('[[events.questionnaire.questions]]\ntext = "q"\nchoices = ["a", "b"]\n' * 4,
         "events.questionnaire.questions", "one to 3 questions (got 4)"),
        ('[[events.questionnaire.questions]]\ntext = "q"\nchoices = ["a", "b", "c", "d", "e", "f"]\n',
         "events.questionnaire.questions[1].choices", "two to 5 choices (got 6)"),
        ('[[events.questionnaire.questions]]\ntext = "q"\nchoices = ["満足", "満足 "]\n',
         "events.questionnaire.questions[1].choices", "two choices read the same"),
        ('[[events.questionnaire.questions]]\ntext = "q"\nchoices = ["a", "あいうえおかきくけこさしすせそたちつてとな"]\n',
         "events.questionnaire.questions[1].choices", "1 to 20 characters"),
        ('[[events.questionnaire.questions]]\ntext = "q"\nchoices = ["１", "b"]\n',
         "events.questionnaire.questions[1].choices", "cannot be a number"),
        ('[events.questionnaire]\nsend_after = "2 hours"\n', "events.questionnaire.send_after", "expected a number"),
        ('[events.questionnaire]\nkinds = ["salon", "nope"]\n', "events", "'nope' is not an [[events.kinds]] id"),
        ('[events]\ndigest_time = "25:00"\n', "events.digest_time", "should match pattern"),
    ],
)  # fmt: skip
def test_bad_questionnaire_configuration_names_the_key(
    tmp_path: Path, toml: str, key: str, message: str
) -> None:
    path = write_config(tmp_path, "http://127.0.0.1:9", toml)
    with pytest.raises(ConfigError) as error:
        load_settings(path, environ={})
    assert f"{path}: {key}: " in str(error.value) and message in str(error.value)


async def test_markup_in_an_event_title_pings_nobody(
    db: Database, settings: Settings, slack: FakeSlack
) -> None:
    event_id = await add_event(db, title="<!channel> サロン <https://evil.example|公式>")
    await sign_up(db, event_id, "U_A", name="はなこ")
    clock = Clock(DUE)
    await service(db, settings, clock).run()
    await deliver(db, settings, slack, clock)
    [posted] = slack.messages_in(CHANNEL)
    assert slack.alarms(posted) == []
