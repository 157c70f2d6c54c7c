"""A failing disk: writes fail on demand, for real, inside SQLite; nothing is lost, looped or stranded.

A trigger sums the `failure_switch` table; two rows that overflow the sum make every write the
trigger guards fail with SQLite's own OperationalError (as a full or broken disk would), and emptying
the table mends the database while the bot keeps running.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sqlite3
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.clock import utc_now
from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.line_webhook import text_event
from storage import Database
from storage.inbox import IncomingEvent
from storage.outbox_rows import LineMessages
from tests.conftest import NOW
from tests.harness import ROOT, post_events, run_sql, settings_for, wait_for, write_config
from tests.hostile.conftest import ServerLog

PUSH = "/v2/bot/message/push"


def guard(path: Path, name: str, trigger: str) -> None:
    """Guard writes with a trigger (e.g. `BEFORE UPDATE ON inbox`) that fails while the switch is on."""
    run_sql(
        path,
        "CREATE TABLE IF NOT EXISTS failure_switch (v INTEGER);"
        f"CREATE TRIGGER {name} {trigger} BEGIN SELECT sum(v) FROM failure_switch; END;",
    )


def break_writes(path: Path) -> None:
    run_sql(path, "INSERT INTO failure_switch VALUES (9223372036854775807), (1)")


def mend_writes(path: Path) -> None:
    run_sql(path, "DELETE FROM failure_switch")


async def test_a_failed_commit_is_rolled_back(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    db = await Database.open(path)
    try:
        # A deferred foreign key is checked at COMMIT: the COMMIT itself fails.
        run_sql(
            path,
            "CREATE TABLE dangling (user_id INTEGER REFERENCES users (id) DEFERRABLE INITIALLY DEFERRED);"
            "CREATE TRIGGER dangle AFTER INSERT ON audit_log WHEN NEW.action = 'poison'"
            " BEGIN INSERT INTO dangling VALUES (424242); END;",
        )
        with pytest.raises(sqlite3.IntegrityError):
            async with db.transaction() as tx:
                await tx.audit.record("test", "poison", "case", "1", NOW)
        # The next unit of work is not stuck inside the failed one, and the failed one left nothing.
        async with db.transaction() as tx:
            await tx.audit.record("test", "fine", "case", "1", NOW)
        assert [entry.action for entry in await db.read.audit.for_subject("case", "1")] == ["fine"]
    finally:
        await db.close()


async def test_an_unrecorded_delivery_is_not_sent_again_and_not_looped(
    bot: Runtime, line: FakeLine, server_log: ServerLog
) -> None:
    path = bot.db.path
    guard(path, "fail_sent", "BEFORE UPDATE ON outbox WHEN NEW.status = 'sent'")
    break_writes(path)
    # A stale reply token: the answer goes out as a push, which LINE accepts; recording it fails.
    assert (await post_events(bot.base_url, [text_event("U_HANAKO", "ヘルプ", reply_token="stale")]))[
        0
    ] == 200
    await wait_for(lambda: len(line.find_requests(path=PUSH)) >= 1)
    await wait_for(lambda: "outbox.record_failed" in server_log.text)
    await asyncio.sleep(1.0)  # the old worker re-sent the row thousands of times in this second
    assert len(line.find_requests(path=PUSH)) == 1
    mend_writes(path)

    async def sent() -> bool:
        rows = await bot.db.read.outbox.in_order("line:U_HANAKO")
        return bool(rows) and all(r.status == "sent" for r in rows)

    await wait_for(sent, within=10)
    assert len(line.find_requests(path=PUSH)) == len(await bot.db.read.outbox.in_order("line:U_HANAKO"))
    assert "traceback=" not in server_log.text


async def test_an_inbox_write_failure_strands_nobody(
    bot: Runtime, line: FakeLine, server_log: ServerLog
) -> None:
    path = bot.db.path
    guard(path, "fail_handled", "BEFORE UPDATE ON inbox")
    break_writes(path)
    first = text_event("U_HANAKO", "ヘルプ", reply_token=line.issue_reply_token("U_HANAKO"))
    assert (await post_events(bot.base_url, [first]))[0] == 200
    await wait_for(lambda: "level=error logger=madoguchi.inbox" in server_log.text)
    second = text_event("U_HANAKO", "こんにちは", reply_token=line.issue_reply_token("U_HANAKO"))
    assert (await post_events(bot.base_url, [second]))[0] == 200
    await asyncio.sleep(0.3)
    assert line.sent_messages("U_HANAKO") == []  # nothing of a failed transaction went out
    mend_writes(path)
    await wait_for(lambda: line.find_requests(path="/v2/bot/message/reply") != [], within=10)

    async def both_done() -> bool:
        return await bot.db.read.inbox.count("done") == 2

    await wait_for(both_done, within=10)
    assert await bot.db.read.inbox.count("failed") == 0
    assert "traceback=" not in server_log.text


async def test_an_inbox_that_cannot_store_answers_500_and_takes_the_redelivery(
    bot: Runtime, line: FakeLine, server_log: ServerLog
) -> None:
    path = bot.db.path
    guard(path, "fail_ingest", "BEFORE INSERT ON inbox")
    break_writes(path)
    event = text_event("U_HANAKO", "ヘルプ", reply_token=line.issue_reply_token("U_HANAKO"))
    assert (await post_events(bot.base_url, [event]))[0] == 500
    mend_writes(path)
    event["deliveryContext"] = {"isRedelivery": True}
    assert (await post_events(bot.base_url, [event]))[0] == 200
    await wait_for(lambda: line.sent_messages("U_HANAKO") != [])
    assert "traceback=" not in server_log.text


async def madoguchi(*args: str) -> str:
    """Run the real command line; return what it printed (it must succeed)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    assert process.returncode == 0
    return out.decode()


async def test_retry_commands_put_failed_work_back_in_line(tmp_path: Path, line: FakeLine) -> None:
    """Only what failed within the last 24 hours: an older answer would arrive out of its time."""
    config = write_config(tmp_path, line.base_url)
    db = await Database.open(tmp_path / "madoguchi.sqlite3")
    now = utc_now()  # the command counts back from the real time
    try:
        for when, tag in ((now - timedelta(days=3), "old"), (now - timedelta(minutes=5), "new")):
            async with db.transaction() as tx:
                message = await tx.outbox.add(LineMessages([{"type": "text", "text": tag}]), "U_HANAKO", when)
                await tx.outbox.finish(message.id, "dead", "gave up after 8 attempts: HTTP 500")
                event = text_event("U_HANAKO", "ヘルプ")
                await tx.inbox.add(
                    [IncomingEvent("line", f"ev-{tag}", "line:U_HANAKO", json.dumps(event))], when
                )
                [item] = await tx.inbox.pending()
                await tx.inbox.mark_failed(item.id, "ValueError", when)
    finally:
        await db.close()

    printed = await madoguchi("inbox", "retry", "--config", str(config))
    printed += await madoguchi("outbox", "retry", "--config", str(config))
    assert "1 failed event(s) of the last 24 hours put back in line" in printed
    assert "1 undelivered message(s) of the last 24 hours put back in line" in printed

    async with Runtime(settings_for(tmp_path, line.base_url)) as bot:

        async def all_done() -> bool:
            return (
                await bot.db.read.inbox.count("done") == 1
                and await bot.db.read.outbox.count("pending") == 0
                and await bot.db.read.outbox.count("dead") == 1  # the old one stays dead
            )

        await wait_for(all_done, within=10)
    assert "new" in line.sent_texts("U_HANAKO") and "old" not in line.sent_texts("U_HANAKO")


async def test_a_stale_listing_of_a_handled_event_is_not_handled_again(bot: Runtime, line: FakeLine) -> None:
    """A rescan's snapshot can list an event whose handling commits just after: it must be a no-op."""
    event = text_event("U_HANAKO", "ヘルプ", reply_token=line.issue_reply_token("U_HANAKO"))
    assert (await post_events(bot.base_url, [event]))[0] == 200

    async def handled() -> bool:
        return await bot.db.read.inbox.count("done") == 1 and await bot.db.read.outbox.count("pending") == 0

    await wait_for(handled)
    sent = len(line.sent_messages("U_HANAKO"))
    assert sent > 0
    [item] = await bot.db.read.inbox.for_key("line:U_HANAKO")
    # The row as a snapshot taken just before the handling committed would show it.
    stale = dataclasses.replace(item, status="pending", payload=json.dumps(event, ensure_ascii=False))
    await bot.inbox._handle(stale)  # what a runner does with a row from such a rescan
    bot.outbox.wake()
    await asyncio.sleep(0.2)
    assert len(line.sent_messages("U_HANAKO")) == sent
    assert len(await bot.db.read.outbox.in_order("line:U_HANAKO")) == 1


async def test_a_requeued_event_is_handled_while_others_keep_writing(bot: Runtime, line: FakeLine) -> None:
    """`inbox retry` while the bot is busy: the put-back row is found by the periodic rescan."""
    event = text_event("U_OLD", "ヘルプ")
    async with bot.db.transaction() as tx:
        await tx.inbox.add([IncomingEvent("line", "ev-old", "line:U_OLD", json.dumps(event))], NOW)
        [item] = await tx.inbox.for_key("line:U_OLD")
        await tx.inbox.mark_failed(item.id, "ValueError", NOW)
    # The worker moves past it: its cursor is now beyond the failed row's id.
    assert (await post_events(bot.base_url, [text_event("U_BUSY", "はじめ")]))[0] == 200

    async def moved_on() -> bool:
        return await bot.db.read.inbox.count("done") == 1

    await wait_for(moved_on)
    async with bot.db.transaction() as tx:
        assert await tx.inbox.requeue_failed(NOW - timedelta(days=1)) == 1

    async def old_one_handled() -> bool:
        [row] = await bot.db.read.inbox.for_key("line:U_OLD")
        return row.status == "done"

    for n in range(40):  # a citizen writes every 0.25 s: the worker is never idle for a poll period
        assert (await post_events(bot.base_url, [text_event("U_BUSY", f"{n}")]))[0] == 200
        if await old_one_handled():
            break
        await asyncio.sleep(0.25)
    assert await old_one_handled()


@pytest.mark.parametrize("hours", ["inf", "1e300", "1e9", "nan", "0", "-1", "many"])
@pytest.mark.parametrize("queue", ["inbox", "outbox"])
async def test_retry_hours_out_of_range_is_a_clear_error(
    tmp_path: Path, line: FakeLine, capsys: pytest.CaptureFixture[str], queue: str, hours: str
) -> None:
    """An operator may type a huge number to mean "everything": inf and 1e9 hours overflowed the date
    arithmetic (a traceback); now --hours is refused like any bad argument."""
    config = write_config(tmp_path, line.base_url)
    with pytest.raises(SystemExit) as exited:
        await asyncio.to_thread(main, [queue, "retry", "--config", str(config), "--hours", hours])
    assert exited.value.code == 2
    assert f"must be a number of hours above 0 and at most 87840, not '{hours}'" in capsys.readouterr().err
    # The largest allowed is accepted (and reaches the database).
    assert await asyncio.to_thread(main, [queue, "retry", "--config", str(config), "--hours", "87840"]) == 0
