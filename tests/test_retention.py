"""What is stored matches what is said: texts leave the inbox and outbox once handled or delivered,
and undelivered ones after `[privacy] purge_undelivered_after_days`, from the database files too."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path

from bot.retention import RetentionSweeper
from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.line_webhook import text_event
from storage import Database
from storage.inbox import IncomingEvent
from tests.conftest import NOW
from tests.harness import post_events, settings_for, wait_for

MARKER = "ひみつの相談MARKER-3b9e"


def stored_texts(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT payload FROM inbox UNION ALL SELECT payload FROM outbox").fetchall()
    finally:
        conn.close()
    return "\n".join(row[0] for row in rows)


def file_bytes(path: Path) -> bytes:
    """The database as it lies on disk: the main file and its WAL."""
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


async def test_handled_and_delivered_texts_are_not_kept(bot: Runtime, line: FakeLine) -> None:
    token = line.issue_reply_token("U_HANAKO")
    assert (await post_events(bot.base_url, [text_event("U_HANAKO", MARKER, reply_token=token)]))[0] == 200
    await wait_for(lambda: line.sent_messages("U_HANAKO") != [])

    async def settled() -> bool:
        return await bot.db.read.outbox.count("pending") == 0 and not await bot.db.read.inbox.pending()

    await wait_for(settled)
    assert MARKER not in stored_texts(bot.db.path)
    [row] = await bot.db.read.outbox.in_order("line:U_HANAKO")
    assert (row.status, row.body, row.reply_token) == ("sent", {}, None)


async def test_undelivered_texts_are_purged_after_the_period_and_leave_the_file(
    tmp_path: Path, line: FakeLine
) -> None:
    settings = settings_for(tmp_path, line.base_url)
    path = settings.database_path
    db = await Database.open(path)
    try:
        old, recent = NOW - timedelta(days=15), NOW - timedelta(days=13)
        async with db.transaction() as tx:
            for when, tag in ((old, "old"), (recent, "new")):
                body = json.dumps({"text": f"{MARKER}-{tag}"}, ensure_ascii=False)
                await tx.inbox.add([IncomingEvent("line", f"ev-{tag}", f"line:U_{tag}", body)], when)
                [item] = await tx.inbox.for_key(f"line:U_{tag}")
                await tx.inbox.mark_failed(item.id, "ValueError", when)
                message = await tx.outbox.add("line", f"U_{tag}", {"text": f"{MARKER}-{tag}"}, when)
                await tx.outbox.finish(message.id, "dead", "gave up")
        assert f"{MARKER}-old".encode() in file_bytes(path)

        await RetentionSweeper(db, settings, lambda: NOW).run()

        texts = stored_texts(path)
        assert f"{MARKER}-old" not in texts and texts.count(f"{MARKER}-new") == 2
        assert f"{MARKER}-old".encode() not in file_bytes(path)  # not in free pages, not in the WAL
        assert await db.read.inbox.count("failed") == 2  # the rows stay, for dedupe and the record
        async with db.transaction() as tx:
            # Only the ones that still have their bodies can be put back.
            assert await tx.inbox.requeue_failed(NOW - timedelta(days=30)) == 1
            assert await tx.outbox.requeue_undelivered(NOW, NOW - timedelta(days=30)) == 1
    finally:
        await db.close()
