"""What is stored matches what is said: texts leave the inbox and outbox once handled or delivered,
and undelivered ones after `[privacy] purge_undelivered_after_days`, from the database files too;
closed cases lose their personal data after `[privacy] anonymise_closed_after_days`."""

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
from storage.cases import NewCase
from storage.inbox import IncomingEvent
from storage.outbox_rows import LineMessages, LineMulticast
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
                message = await tx.outbox.add(
                    LineMessages([{"type": "text", "text": f"{MARKER}-{tag}"}]), f"U_{tag}", when
                )
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


async def test_closed_cases_past_the_period_are_anonymised_exactly_and_still_counted(
    tmp_path: Path, line: FakeLine
) -> None:
    """[privacy] anonymise_closed_after_days = 1095: with the clock injected, a case closed 1095 days
    and a minute ago loses its personal data and gets its card redrawn; one closed a minute later,
    and an open one, keep theirs. The statistics count all three."""
    settings = settings_for(tmp_path, line.base_url)
    assert settings.privacy.anonymise_closed_after_days == 1095
    db = await Database.open(settings.database_path)
    period = timedelta(days=1095)
    try:
        cases = []
        async with db.transaction() as tx:
            user = await tx.users.ensure("U_HANAKO", NOW - period * 2)
            for tag in ("expired", "kept", "open"):
                new = NewCase(user.id, "general", "個人", f"山田 花子-{tag}", "phone", f"{MARKER}-{tag}",
                              phone="045-123-4567", furigana="やまだ はなこ")  # fmt: skip
                case = await tx.cases.create(new, NOW - period * 2, 2023)
                await tx.cases.set_slack_message(case.id, "C_DEFAULT", f"1700000000.00000{case.id}")
                await tx.cases.add_message(case.id, "citizen", f"{MARKER}-{tag}-followup", NOW - period * 2)
                cases.append(case)
            expired, kept, still_open = cases
            await tx.cases.set_status(expired.id, "closed", NOW - period - timedelta(minutes=1))
            await tx.cases.set_status(kept.id, "closed", NOW - period + timedelta(minutes=1))

        await RetentionSweeper(db, settings, lambda: NOW).run()

        gone = await db.read.cases.get(expired.id)
        assert gone is not None and gone.anonymised_reason == "retention"
        assert (gone.person_name, gone.phone, gone.furigana, gone.body) == ("", None, None, "")
        assert [m.body for m in await db.read.cases.messages(expired.id)] == [""]
        for case in (kept, still_open):
            same = await db.read.cases.get(case.id)
            assert same is not None and same.anonymised_at is None and same.body == case.body
        assert f"{MARKER}-expired".encode() not in file_bytes(settings.database_path)
        assert f"{MARKER}-kept".encode() in file_bytes(settings.database_path)
        # The card of the expired case is redrawn (and its thread told); the others are left alone.
        # (No one saw it on App Home: no Home is published again.)
        rows = await db.read.outbox.in_order(f"slack:case:{expired.id}")
        kinds = ["case_anonymised", "thread_purge", "card_update"]
        assert [r.row.kind for r in rows] == kinds
        assert await db.read.outbox.in_order(f"slack:case:{kept.id}") == []
        [entry] = await db.read.audit.for_subject("case", expired.id)
        assert (entry.actor, entry.action, entry.detail["reason"]) == (
            "system:retention",
            "case.anonymised",
            "retention",
        )
        # Statistics still count it: same number, category, month and status.
        assert await db.read.cases.count_closed_since(NOW - period * 3) == 2
        assert sorted(c.number for c in await db.read.cases.with_status("closed")) == [
            expired.number,
            kept.number,
        ]

        await RetentionSweeper(db, settings, lambda: NOW + timedelta(minutes=2)).run()  # idempotent; now due
        assert [r.row.kind for r in await db.read.outbox.in_order(f"slack:case:{expired.id}")] == [
            "case_anonymised", "thread_purge", "card_update"]  # fmt: skip
        again = await db.read.cases.get(kept.id)
        assert again is not None and again.anonymised_reason == "retention"
    finally:
        await db.close()


def test_the_retention_period_is_validated(tmp_path: Path) -> None:
    import pytest

    from bot.config import ConfigError

    for value in (0, 29, 3651):
        with pytest.raises(ConfigError, match=r"privacy\.anonymise_closed_after_days"):
            settings_for(tmp_path, "http://127.0.0.1:9", f"[privacy]\nanonymise_closed_after_days = {value}")


async def test_a_deletion_takes_the_citizen_out_of_pending_multicasts(tmp_path: Path) -> None:
    """A reminder queued for many before the citizen asked for deletion must not reach them after."""
    db = await Database.open(tmp_path / "db.sqlite3")
    try:
        async with db.transaction() as tx:
            both = await tx.outbox.add(
                LineMulticast(["U_A", "U_B"], []), "multicast", NOW,
                order_key="line:multicast:1",
            )  # fmt: skip
            alone = await tx.outbox.add(
                LineMulticast(["U_A"], []), "multicast", NOW,
                order_key="line:multicast:2",
            )  # fmt: skip
            other = await tx.outbox.add(LineMessages([]), "U_A", NOW)
            assert await tx.outbox.drop_recipient("U_A") == 2
        rows = {m.id: m for m in [await db.read.outbox.get(i) for i in (both.id, alone.id, other.id)] if m}
        assert rows[both.id].row == LineMulticast(["U_B"], [])
        assert rows[alone.id].status == "cancelled" and rows[alone.id].payload == "{}"  # to nobody
        assert rows[other.id].row == LineMessages([])  # a push is cancelled by its own order key
    finally:
        await db.close()
