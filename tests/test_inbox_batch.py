"""Events ready together are handled in one transaction, each in a savepoint: every event still fails alone.

The worker-level tests give the worker a handler that holds each event in `prepare` until all of
them are prepared, so they reach the group commit at the same moment; the failures are SQLite's own
(a constraint, a deferred foreign key at COMMIT, a lock held by another process). The end-to-end
test runs the whole bot against the fake LINE.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import sqlite3
from collections import defaultdict
from pathlib import Path

import pytest

from bot.clock import utc_now
from bot.inbox_worker import MAX_TRIES, InboxWorker
from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.line_webhook import text_event
from storage import Database, Repositories
from storage.inbox import InboxItem, IncomingEvent
from storage.outbox_rows import LineMessages
from tests.conftest import NOW
from tests.harness import captured_log, run_sql, settings_for, wait_for


class Recorder:
    """Holds every event in `prepare` until `together` events are prepared; `apply` writes the user
    and an answer to them (the answer's text is the event id), and raises where `fail` says so."""

    def __init__(self, together: int, fail: dict[str, list[Exception]] | None = None) -> None:
        self.applied: list[tuple[str, Repositories]] = []  # (event id, the transaction it ran in)
        self._together = together
        self._prepared = 0
        self._all_prepared = asyncio.Event()
        self._fail = fail or {}

    async def prepare(self, item: InboxItem) -> None:
        self._prepared += 1
        if self._prepared >= self._together:
            self._all_prepared.set()
        await self._all_prepared.wait()

    async def apply(self, item: InboxItem, prepared: None, tx: Repositories) -> None:
        self.applied.append((item.event_id, tx))
        user = item.order_key.removeprefix("line:")
        await tx.users.ensure(user, NOW)
        await tx.outbox.add(
            LineMessages([{"type": "text", "text": item.event_id}]), user, NOW, order_key=user
        )
        if failures := self._fail.get(item.event_id):
            raise failures.pop(0)


async def _store(db: Database, events: list[tuple[str, str]]) -> None:
    """(user, event id) pairs, stored in this order."""
    async with db.transaction() as tx:
        await tx.inbox.add([IncomingEvent("line", eid, f"line:{user}", "{}") for user, eid in events], NOW)


async def _run(db: Database, handler: Recorder, until_done: int) -> None:
    worker = InboxWorker(db, utc_now, {"line": handler})
    worker.start()
    try:

        async def finished() -> bool:
            return await db.read.inbox.count("done") + await db.read.inbox.count("failed") == until_done

        await wait_for(finished, within=20)
    finally:
        await worker.stop()


async def _answers(db: Database, user: str) -> list[str]:
    return [str(row.payload) for row in await db.read.outbox.in_order(user)]


async def test_an_event_failing_in_a_shared_transaction_is_retried_alone(db: Database) -> None:
    users = [f"U{n}" for n in range(5)]
    await _store(db, [(user, f"ev-{user}") for user in users])
    handler = Recorder(together=5, fail={"ev-U2": [ValueError("the event's own fault")]})
    await _run(db, handler, until_done=5)

    first, retried = handler.applied[:5], handler.applied[5:]
    assert sorted(eid for eid, _ in first) == [f"ev-{user}" for user in users]
    assert len({id(tx) for _, tx in first}) == 1, "the five ready events share one transaction"
    assert [eid for eid, _ in retried] == ["ev-U2"]
    assert retried[0][1] is not first[0][1]
    assert await db.read.inbox.count("done") == 5 and await db.read.inbox.count("failed") == 0
    for user in users:
        # One answer each: the failed attempt's writes were undone with its savepoint only.
        [answer] = await _answers(db, user)
        assert f"ev-{user}" in answer


@pytest.mark.parametrize("where", ["in-apply", "whole-transaction", "at-commit"])
async def test_an_event_that_always_fails_fails_alone_and_the_others_commit_once(
    tmp_path: Path, where: str
) -> None:
    path = tmp_path / "db.sqlite3"
    db = await Database.open(path)
    try:
        if where == "in-apply":  # a constraint: the statement fails, inside the event's savepoint
            run_sql(
                path,
                "CREATE TRIGGER refuse BEFORE INSERT ON outbox WHEN NEW.recipient = 'U_BAD'"
                " BEGIN SELECT RAISE(ABORT, 'refused'); END;",
            )
        elif where == "whole-transaction":  # SQLite rolls back the whole shared transaction itself
            run_sql(
                path,
                "CREATE TRIGGER undo BEFORE INSERT ON outbox WHEN NEW.recipient = 'U_BAD'"
                " BEGIN SELECT RAISE(ROLLBACK, 'undone'); END;",
            )
        else:  # a deferred foreign key: the shared COMMIT itself fails
            run_sql(
                path,
                "CREATE TABLE dangling (user_id INTEGER REFERENCES users (id) DEFERRABLE INITIALLY DEFERRED);"
                "CREATE TRIGGER dangle AFTER INSERT ON outbox WHEN NEW.recipient = 'U_BAD'"
                " BEGIN INSERT INTO dangling VALUES (424242); END;",
            )
        users = ["U0", "U1", "U_BAD", "U3", "U4"]
        await _store(db, [(user, f"ev-{user}") for user in users])
        handler = Recorder(together=5)
        await _run(db, handler, until_done=5)

        shared = handler.applied[0][1]
        group = [eid for eid, tx in handler.applied if tx is shared]
        # All five shared the first transaction (up to the culprit, where SQLite undid it all).
        assert len(group) == (group.index("ev-U_BAD") + 1 if where == "whole-transaction" else 5)
        assert len(group) >= 2
        assert await db.read.inbox.count("done") == 4
        [bad] = await db.read.inbox.for_key("line:U_BAD")
        assert (bad.status, bad.error) == ("failed", "IntegrityError")
        assert await _answers(db, "U_BAD") == []
        for user in ("U0", "U1", "U3", "U4"):
            assert len(await _answers(db, user)) == 1
        tries = [eid for eid, _ in handler.applied].count("ev-U_BAD")
        if where == "in-apply":
            # Retried alone: the others were committed with the first attempt.
            assert tries == MAX_TRIES and len(handler.applied) == 5 + MAX_TRIES - 1
        else:
            # The shared transaction failed: each event was done again alone, the culprit its tries.
            assert tries == 1 + MAX_TRIES and len(handler.applied) == len(group) + 4 + MAX_TRIES
    finally:
        await db.close()


async def test_a_batch_that_cannot_reach_storage_is_retried_whole_and_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    db = await Database.open(path, busy_timeout_ms=50)
    locker = sqlite3.connect(path, isolation_level=None)
    try:
        users = [f"U{n}" for n in range(4)]
        await _store(db, [(user, f"ev-{user}") for user in users])
        handler = Recorder(together=4)
        worker = InboxWorker(db, utc_now, {"line": handler})
        with captured_log("-") as server_log:
            locker.execute("BEGIN EXCLUSIVE")  # another process holds the database past the busy timeout
            worker.start()
            try:
                await wait_for(lambda: "inbox.storage_failed" in server_log.text)
                assert await db.read.inbox.count("done") == 0
                locker.execute("ROLLBACK")

                async def all_done() -> bool:
                    return await db.read.inbox.count("done") == 4

                await wait_for(all_done, within=20)
            finally:
                await worker.stop()
        assert "inbox.commit_failed" in server_log.text
        assert await db.read.inbox.count("failed") == 0
        for user in users:
            assert len(await _answers(db, user)) == 1
    finally:
        locker.close()
        await db.close()


class AckArrives(Recorder):
    """While the first event is handled, a webhook's acknowledgement (an urgent transaction) comes
    to wait for the writer; every event notes whether that acknowledgement was committed before it."""

    def __init__(self, db: Database, together: int) -> None:
        super().__init__(together)
        self.saw_ack: dict[str, bool] = {}
        self.ack: asyncio.Task[None] | None = None
        self._db = db

    async def apply(self, item: InboxItem, prepared: None, tx: Repositories) -> None:
        self.saw_ack[item.event_id] = await tx.users.by_line_id("U-ack") is not None
        if self.ack is None:
            # A context of its own, as a webhook request's: not this transaction's.
            self.ack = asyncio.create_task(self._acknowledge(), context=contextvars.Context())
            await wait_for(self._db.urgent_waiting)
        await super().apply(item, prepared, tx)

    async def _acknowledge(self) -> None:
        async with self._db.transaction(urgent=True) as tx:
            await tx.users.ensure("U-ack", NOW)


async def test_a_waiting_acknowledgement_goes_before_the_rest_of_a_batch(db: Database) -> None:
    users = [f"U{n}" for n in range(5)]
    await _store(db, [(user, f"ev-{user}") for user in users])
    handler = AckArrives(db, together=5)
    await _run(db, handler, until_done=5)

    assert handler.ack is not None and handler.ack.done()
    [(first, tx), *rest] = handler.applied
    assert all(other is not tx for _, other in rest), "the batch stopped after its first event"
    assert not handler.saw_ack[first]
    assert all(handler.saw_ack[eid] for eid, _ in rest), "the acknowledgement committed in between"
    assert len({id(other) for _, other in rest}) < len(rest), "the others still shared a transaction"
    for user in users:
        assert len(await _answers(db, user)) == 1


async def test_each_users_events_stay_in_order_one_per_transaction(db: Database) -> None:
    users = ["UA", "UB", "UC"]
    # Interleaved as they would arrive: UA1, UB1, UC1, UA2, ...
    await _store(db, [(user, f"{user}-{n}") for n in range(4) for user in users])
    handler = Recorder(together=3, fail={"UB-1": [ValueError("once")]})
    await _run(db, handler, until_done=12)

    by_tx: dict[int, list[str]] = defaultdict(list)
    for eid, tx in handler.applied:
        by_tx[id(tx)].append(eid)
    assert all(len({eid.split("-")[0] for eid in eids}) == len(eids) for eids in by_tx.values()), (
        "never two events of one user in one transaction"
    )
    assert any(len(eids) > 1 for eids in by_tx.values()), "different users shared transactions"
    for user in users:
        applied = [eid for eid, _ in handler.applied if eid.startswith(f"{user}-")]
        expected = [f"{user}-{n}" for n in range(4)]
        if user == "UB":
            expected.insert(1, "UB-1")  # its failed first try, then the retry, before UB-2
        assert applied == expected
        assert [json.loads(a)["messages"][0]["text"] for a in await _answers(db, user)] == [
            f"{user}-{n}" for n in range(4)
        ]


@pytest.mark.parametrize("where", ["in-apply", "at-commit"])
async def test_whole_bot_answers_each_citizen_once_when_one_event_fails(
    tmp_path: Path, line: FakeLine, where: str
) -> None:
    path = tmp_path / "madoguchi.sqlite3"
    db = await Database.open(path)
    citizens = ["U_AKI", "U_BAD", "U_CHI", "U_DAI"]
    events = {user: text_event(user, "ヘルプ", reply_token=line.issue_reply_token(user)) for user in citizens}
    try:
        async with db.transaction() as tx:
            # Stored before the bot starts: all pending at once, as after a burst or a restart. At the
            # real time, as the bot's clock is: stored at a fixed time, the reply tokens count as
            # expired once that time plus a token's lifetime has passed, and the answers are pushed.
            await tx.inbox.add(
                [
                    IncomingEvent("line", str(event["webhookEventId"]), f"line:{user}", json.dumps(event))
                    for user, event in events.items()
                ],
                utc_now(),
            )
    finally:
        await db.close()
    if where == "in-apply":
        run_sql(
            path,
            "CREATE TRIGGER refuse BEFORE INSERT ON outbox WHEN NEW.recipient = 'U_BAD'"
            " BEGIN SELECT RAISE(ABORT, 'refused'); END;",
        )
    else:
        run_sql(
            path,
            "CREATE TABLE dangling (user_id INTEGER REFERENCES users (id) DEFERRABLE INITIALLY DEFERRED);"
            "CREATE TRIGGER dangle AFTER INSERT ON outbox WHEN NEW.recipient = 'U_BAD'"
            " BEGIN INSERT INTO dangling VALUES (424242); END;",
        )

    async with Runtime(settings_for(tmp_path, line.base_url)) as bot:

        async def settled() -> bool:
            if await bot.db.read.inbox.count("done") != 3 or await bot.db.read.inbox.count("failed") != 1:
                return False
            rows = [row for user in citizens for row in await bot.db.read.outbox.in_order(f"line:{user}")]
            return bool(rows) and all(row.status == "sent" for row in rows)

        await wait_for(settled, within=20)
        # The answer to ヘルプ is one row: one reply each, its token used once, nothing pushed.
        for user in ("U_AKI", "U_CHI", "U_DAI"):
            assert len(await bot.db.read.outbox.in_order(f"line:{user}")) == 1
            assert line.sent_messages(user) and {m.kind for m in line.sent_messages(user)} == {"reply"}
            assert line.sent_texts(user) == line.sent_texts("U_AKI")
        assert len(line.find_requests(path="/v2/bot/message/reply")) == 3
        assert line.find_requests(path="/v2/bot/message/push") == []
        assert line.sent_messages("U_BAD") == []
        assert await bot.db.read.outbox.in_order("line:U_BAD") == []
        [bad] = await bot.db.read.inbox.for_key("line:U_BAD")
        assert bad.status == "failed"
