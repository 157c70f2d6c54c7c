"""An announcement is checked again when it is sent, not only when staff confirm it (review 42, R2).

Sending can wait: LINE down, a 429/5xx back-off, the later batches of a large fan-out, or `madoguchi
outbox retry` of a dead row days later. Here LINE refuses the multicast until the row is dead, the world
changes, and the operator runs `outbox retry`: citizens who sent 配信停止, turned the kind off or asked
for deletion meanwhile are not sent it; an event cancelled, made internal or moved into the past is not
announced; an event renamed or moved is announced as it is now. Rows queued by the version before (plain
multicasts) are checked the same way. A multicast LINE refuses as a whole (a revoked token) fails as one
row instead of as one push per recipient; a bad request (a recipient LINE will not take) is still sent
member by member. Real server, real SDK, fake LINE. And an event with neither a venue nor an online
address is announced with 場所：未定, not as online.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.announce import announce
from bot.reminders import cancel_event, queue_multicast
from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from flows.announcements import announcement
from flows.texts import Texts
from storage import Database
from storage.events import Event, EventDraft
from storage.outbox import OutboxMessage
from tests.harness import wait_for
from tests.line.test_citizen_events_e2e import Citizen, day_text, texts_of
from tests.line.test_line_commands import run

MULTICAST = "/v2/bot/message/multicast"
ANNOUNCED = "📣 新しいイベントのお知らせ"


def draft(uid: str, **more: Any) -> EventDraft:
    values: dict[str, Any] = {
        "uid": uid,
        "kind": "salon",
        "title": "川辺の交流会",
        "starts_at": datetime.now(UTC) + timedelta(days=14),
        "venue": "象の鼻テラス",
        **more,
    }
    return EventDraft(**values)


async def subscribers(bot: Runtime, *line_ids: str) -> None:
    now = datetime.now(UTC)
    async with bot.db.transaction() as tx:
        for line_id in line_ids:
            user = await tx.users.mark_followed(line_id, now)
            await tx.subscriptions.choose(user.id, "salon", True, now)


async def announced_until_dead(bot: Runtime, line: FakeLine, event: Event) -> OutboxMessage:
    """Staff confirm; LINE answers 500 to every attempt until the row is dead (LINE down)."""
    line.fail_next(*[500] * bot.settings.delivery.max_attempts, path=MULTICAST)
    async with bot.db.transaction() as tx:
        done = await announce(
            tx, event.id, actor="cli", settings=bot.settings, texts=Texts.load(), now=datetime.now(UTC)
        )
    assert done.refusal is None and done.batches == 1
    bot.outbox.wake()

    key = f"line:multicast:announce:{event.id}:0"

    async def dead() -> bool:
        return [r.status for r in await bot.db.read.outbox.in_order(key)] == ["dead"]

    await wait_for(dead)
    [row] = await bot.db.read.outbox.in_order(key)
    return row


async def retried(bot: Runtime, tmp_path: Path, row: OutboxMessage) -> OutboxMessage:
    """`madoguchi outbox retry` (LINE is back), then the row as the outbox left it."""
    assert await run(tmp_path / "config.toml", "outbox", "retry") == 0
    bot.outbox.wake()

    async def settled() -> bool:
        now = await bot.db.read.outbox.get(row.id)
        return now is not None and now.status not in ("pending", "dead")

    await wait_for(settled)
    final = await bot.db.read.outbox.get(row.id)
    assert final is not None
    return final


def multicast_recipients(line: FakeLine) -> list[list[str]]:
    return [list(r.json["to"]) for r in line.find_requests(path=MULTICAST) if r.status == 200 and r.json]


async def test_who_stopped_turned_the_kind_off_or_was_deleted_meanwhile_is_not_sent_it(
    tmp_path: Path, bot: Runtime, line: FakeLine
) -> None:
    async with bot.db.transaction() as tx:
        event = await tx.events.upsert(draft("stop"), datetime.now(UTC))
    await subscribers(bot, "U_HANAKO", "U_TARO", "U_JIRO", "U_SABURO")
    row = await announced_until_dead(bot, line, event)

    hanako, jiro, saburo = (Citizen(bot, line, u) for u in ("U_HANAKO", "U_JIRO", "U_SABURO"))
    assert "配信を停止しました" in texts_of(await hanako.type("配信停止"))
    assert "ミズベサロンのお知らせを止めました" in texts_of(await jiro.tap("subs:toggle:salon"))
    await saburo.type("削除")
    await saburo.tap("delete:yes")

    final = await retried(bot, tmp_path, row)
    assert (final.status, final.delivered_via) == ("sent", "multicast")
    assert multicast_recipients(line) == [["U_TARO"]]
    assert [t for t in line.sent_texts("U_TARO") if ANNOUNCED in t]
    for gone in ("U_HANAKO", "U_JIRO", "U_SABURO"):
        assert not [t for t in line.sent_texts(gone) if ANNOUNCED in t], gone


@pytest.mark.parametrize("change", ["cancelled", "internal", "started"])
async def test_an_event_that_can_no_longer_be_announced_is_not(
    tmp_path: Path, bot: Runtime, line: FakeLine, change: str
) -> None:
    async with bot.db.transaction() as tx:
        event = await tx.events.upsert(draft(change), datetime.now(UTC))
    await subscribers(bot, "U_HANAKO", "U_TARO")
    row = await announced_until_dead(bot, line, event)

    now = datetime.now(UTC)
    async with bot.db.transaction() as tx:
        if change == "cancelled":
            await cancel_event(tx, event.id, settings=bot.settings, texts=Texts.load(), now=now)
        elif change == "internal":
            await tx.events.upsert(draft(change, public=False), now)
        else:
            await tx.events.upsert(draft(change, starts_at=now - timedelta(minutes=5)), now)

    final = await retried(bot, tmp_path, row)
    assert final.status == "cancelled" and final.last_error is not None
    assert final.last_error.startswith("not announced")
    assert multicast_recipients(line) == []
    assert not [t for t in line.sent_texts() if ANNOUNCED in t]


async def test_an_event_renamed_or_moved_meanwhile_is_announced_as_it_is_now(
    tmp_path: Path, bot: Runtime, line: FakeLine
) -> None:
    # Two weeks ahead of the real clock the bot runs on (a fixed date falls behind it one day).
    tokyo = ZoneInfo("Asia/Tokyo")
    starts = datetime.combine(datetime.now(tokyo).date() + timedelta(days=14), time(10, 0), tokyo)
    async with bot.db.transaction() as tx:
        event = await tx.events.upsert(draft("moved", starts_at=starts), datetime.now(UTC))
    await subscribers(bot, "U_HANAKO")
    row = await announced_until_dead(bot, line, event)
    async with bot.db.transaction() as tx:
        await tx.events.upsert(
            draft("moved", title="川辺の交流会（拡大版）", starts_at=starts + timedelta(days=1)),
            datetime.now(UTC),
        )
    assert (await retried(bot, tmp_path, row)).status == "sent"
    [told] = [t for t in line.sent_texts("U_HANAKO") if ANNOUNCED in t]
    assert "「川辺の交流会（拡大版）」" in told, told
    assert f"{day_text(starts + timedelta(days=1))} 10:00" in told, told


async def test_an_announcement_queued_by_the_version_before_is_checked_too(
    bot: Runtime, line: FakeLine
) -> None:
    """The older version queued plain multicasts with the text drawn at confirmation (purpose
    "announcement", key announce:<event id>), as `queue_multicast` still writes them."""
    texts = Texts.load()
    async with bot.db.transaction() as tx:
        event = await tx.events.upsert(draft("legacy"), datetime.now(UTC))
    await subscribers(bot, "U_HANAKO", "U_TARO")
    old_text = announcement(event, "ミズベサロン", texts, bot.settings.center.tz)
    async with bot.db.transaction() as tx:
        user = await tx.users.by_line_id("U_HANAKO")
        assert user is not None
        await tx.subscriptions.stop(user.id, datetime.now(UTC))
        await tx.events.upsert(draft("legacy", title="川辺の交流会（新）"), datetime.now(UTC))
        messages = [{"type": "text", "text": old_text.text}]
        await queue_multicast(
            tx, ["U_HANAKO", "U_TARO"], messages, datetime.now(UTC), f"announce:{event.id}", "announcement"
        )
    bot.outbox.wake()
    await wait_for(lambda: len(multicast_recipients(line)) == 1)
    assert multicast_recipients(line) == [["U_TARO"]]
    [told] = [t for t in line.sent_texts("U_TARO") if ANNOUNCED in t]
    assert "「川辺の交流会（新）」" in told


async def test_a_multicast_refused_as_a_whole_fails_as_one_row(bot: Runtime, line: FakeLine) -> None:
    """A revoked token (401): every member would be refused alike, so no push per recipient."""
    line.access_token = "revoked"
    async with bot.db.transaction() as tx:
        message = [{"type": "text", "text": "明日のミズベサロンのお知らせです。"}]
        await queue_multicast(
            tx, ["U_HANAKO", "U_TARO", "U_JIRO"], message, datetime.now(UTC), "r:1", "reminder"
        )
    bot.outbox.wake()

    async def finished() -> bool:
        [row] = await bot.db.read.outbox.in_order("line:multicast:r:1:0")
        return row.status == "failed"

    await wait_for(finished)
    assert line.find_requests(path="/v2/bot/message/push") == []
    for user in ("U_HANAKO", "U_TARO", "U_JIRO"):
        assert await bot.db.read.outbox.in_order(f"line:{user}") == [], user


async def test_a_bad_request_is_still_sent_member_by_member(bot: Runtime, line: FakeLine) -> None:
    """A recipient LINE will not take (400) costs only that recipient: a reminder goes again as pushes,
    an announcement as one row per recipient, each drawn again when sent."""
    async with bot.db.transaction() as tx:
        event = await tx.events.upsert(draft("split"), datetime.now(UTC))
    await subscribers(bot, "", "U_HANAKO")  # an id LINE refuses ("May not be empty")
    async with bot.db.transaction() as tx:
        message = [{"type": "text", "text": "明日のミズベサロンのお知らせです。"}]
        await queue_multicast(tx, ["", "U_TARO"], message, datetime.now(UTC), "r:2", "reminder")
        done = await announce(
            tx, event.id, actor="cli", settings=bot.settings, texts=Texts.load(), now=datetime.now(UTC)
        )
    assert done.recipients == 2
    bot.outbox.wake()
    await wait_for(lambda: "明日のミズベサロンのお知らせです。" in line.sent_texts("U_TARO"))
    await wait_for(lambda: any(ANNOUNCED in t for t in line.sent_texts("U_HANAKO")))
    assert [m.kind for m in line.sent_messages("U_TARO")] == ["push"]
    assert [m.to for m in line.sent_messages("U_HANAKO")] == [["U_HANAKO"]]  # a multicast of one

    async def refused() -> bool:
        rows = await bot.db.read.outbox.in_order("line:")
        return [r.status for r in rows] == ["failed", "failed"]

    await wait_for(refused)


async def test_an_event_with_no_venue_and_no_online_address_is_not_said_to_be_online(db: Database) -> None:
    """An imported in-person event without a LOCATION was announced to everyone as online."""
    texts, tz, now = Texts.load(), ZoneInfo("Asia/Tokyo"), datetime.now(UTC)
    places: list[str] = []
    async with db.transaction() as tx:
        for uid, venue, url in [("a", "", ""), ("b", "", "https://x.example/j"), ("c", "象の鼻テラス", "")]:
            event = await tx.events.upsert(draft(uid, venue=venue, online_url=url), now)
            text = announcement(event, "ミズベサロン", texts, tz).text
            places += [line for line in text.splitlines() if line.startswith("場所：")]
    assert places == ["場所：未定", "場所：オンライン", "場所：象の鼻テラス"]
