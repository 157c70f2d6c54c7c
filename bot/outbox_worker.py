"""Delivers the outbox: every due row through its channel's sender, with retries and dead letters.

Rows of a channel with no sender in this process (Slack before it is configured) wait, pending.

Rows that share an order key are sent strictly one after another (storage only ever offers each
key's oldest pending row); different keys go out in parallel, up to a limit. While webhooks are being
acknowledged, new deliveries start only in a gap between them (bot/ingest.py `AckPriority`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import sqlite3
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from bot.clock import Clock
from bot.delivery import Delivered, Final, Outcome, Retry, RetryPolicy, Sender
from bot.group_commit import WriteGroup
from bot.ingest import AckPriority
from bot.logs import fields
from bot.ops_alerts import OPS_ORDER_KEY, Cause, OpsAlerts
from storage import Database, Repositories
from storage.outbox import OutboxMessage
from storage.outbox_rows import BadRow

log = logging.getLogger("madoguchi.outbox")

IDLE_POLL_SECONDS = 30.0
# Recording an outcome that failed (disk full, database locked) is retried after this long, doubling.
RECORD_RETRY_SECONDS = 0.5
RECORD_RETRY_MAX_SECONDS = 60.0


@dataclass
class _Unrecorded:
    """An outcome the platform gave that storage could not take yet: kept in memory, never re-sent."""

    message: OutboxMessage
    outcome: Outcome
    failures: int
    retry_at: float


class OutboxWorker:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        senders: Mapping[str, Sender],
        policy: RetryPolicy,
        *,
        concurrency: int = 16,
        rng: random.Random | None = None,
        alerts: OpsAlerts | None = None,
        priority: AckPriority | None = None,
        records: WriteGroup | None = None,
    ) -> None:
        """`priority`: whose acknowledgements go first (new deliveries wait for a gap). `records`:
        where outcomes are written (a group commit the senders may share)."""
        self._alerts = alerts
        self._priority = priority
        # Told of every final outcome (sent, refused, dead), e.g. to echo it in a case thread.
        self.on_final: list[Callable[[OutboxMessage, Outcome], Awaitable[None]]] = []
        self._db = db
        self._clock = clock
        self._senders = senders
        self._policy = policy
        self._rng = rng or random.Random()
        self._concurrency = concurrency
        self._wake = asyncio.Event()
        self._inflight: dict[str, asyncio.Task[None]] = {}
        # By order key: the key's later rows wait until its outcome is recorded.
        self._unrecorded: dict[str, _Unrecorded] = {}
        self._read_failures: dict[str, int] = {}  # by order key: failed reads of its head in a row
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False
        # Outcomes recorded at about the same time share one transaction (with the senders' other
        # bookkeeping, when they are given the same `records`); one that fails to record is retried
        # alone, so it never takes the others with it.
        self.records = records or WriteGroup(db, name="outbox.outcomes", log=log)

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._run(), name="outbox-worker")

    async def stop(self, grace_seconds: float = 5.0) -> None:
        """Stop taking new rows; let deliveries under way finish (their outcome is recorded).

        One still stuck after the grace period is cancelled: its row stays pending and goes out after
        the restart with its same retry key.
        """
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        if self._inflight:
            _, stuck = await asyncio.wait(list(self._inflight.values()), timeout=grace_seconds)
            for task in stuck:
                task.cancel()
            if stuck:
                log.warning("outbox.stopped_with_deliveries_cut", extra=fields(count=len(stuck)))
                await asyncio.gather(*stuck, return_exceptions=True)
        for pending in list(self._unrecorded.values()):
            await self._record_kept(pending)  # a last try; what stays unrecorded is re-sent after restart
        if self._unrecorded:
            log.warning("outbox.stopped_with_outcomes_unrecorded", extra=fields(count=len(self._unrecorded)))

    async def _run(self) -> None:
        # Not `while True`: Python 3.11's wait_for can swallow the stop's cancellation when a wake
        # lands at the same moment, so the loop also ends on the flag.
        while not self._stopping:
            self._wake.clear()
            try:
                if self._priority is not None:
                    await self._priority.turn()
                timeout = await self._dispatch_due()
            except Exception:
                log.exception("outbox.loop_error")
                timeout = 1.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def _dispatch_due(self) -> float:
        """Start delivering the rows whose time has come; return how long to sleep unless woken:
        until the next row of a key not being delivered comes due.

        Keys with a delivery under way are left out (the delivery wakes the loop when it ends); with
        every slot taken, nothing is looked up at all. Counting them made the loop spin, listing the
        heads again and again while a delivery was under way (their time had come). One listing
        gives both the rows due and the next to come due.
        """
        self._record_again()
        waits = [IDLE_POLL_SECONDS]
        # Not the outcomes being recorded again right now: that task wakes the loop when it ends.
        waits += [
            max(0.0, kept.retry_at - time.monotonic())
            for key, kept in self._unrecorded.items()
            if key not in self._inflight
        ]
        free = self._concurrency - len(self._inflight)
        if free <= 0:
            return min(waits)  # a finishing delivery wakes the loop
        now = self._clock()
        heads = await self._db.read.outbox.heads(
            list(self._senders), limit=free + 1, skip_keys=[*self._inflight, *self._unrecorded]
        )
        for message in heads:
            if message.order_key in self._inflight:
                continue
            if free == 0:
                break  # one more is due: a finishing delivery wakes the loop for it
            if message.next_attempt_at > now:
                waits.append((message.next_attempt_at - now).total_seconds())
                break
            task = asyncio.create_task(self._deliver(message), name=f"deliver-{message.id}")
            self._inflight[message.order_key] = task
            task.add_done_callback(functools.partial(self._done, message.order_key))
            free -= 1
        return min(waits)

    def _record_again(self) -> None:
        """Try again to record the outcomes whose time has come (the messages are not sent again)."""
        now = time.monotonic()
        for key, pending in list(self._unrecorded.items()):
            if pending.retry_at > now or key in self._inflight:
                continue
            task = asyncio.create_task(self._record_kept(pending), name=f"record-{pending.message.id}")
            self._inflight[key] = task
            task.add_done_callback(functools.partial(self._done, key))

    async def _record_kept(self, pending: _Unrecorded) -> None:
        try:
            await self._record(pending.message, pending.outcome)
        except Exception as exc:
            self._keep(pending.message, pending.outcome, exc, pending.failures + 1)
        else:
            del self._unrecorded[pending.message.order_key]
            log.info("outbox.recorded_late", extra=fields(id=pending.message.id, failures=pending.failures))

    def _keep(self, message: OutboxMessage, outcome: Outcome, exc: Exception, failures: int) -> None:
        delay = _pause(failures)
        self._unrecorded[message.order_key] = _Unrecorded(
            message, outcome, failures, time.monotonic() + delay
        )
        log.error(
            "outbox.record_failed",
            extra=fields(
                id=message.id, error=type(exc).__name__, failures=failures, retry_in=round(delay, 1)
            ),
        )

    def _done(self, order_key: str, _task: asyncio.Task[None]) -> None:
        self._inflight.pop(order_key, None)
        self._wake.set()

    async def _deliver(self, listed: OutboxMessage) -> None:
        # The list of due rows may predate a delivery that finished meanwhile: check afresh.
        try:
            message = await self._db.quick.outbox.get(listed.id)
        except sqlite3.Error as exc:
            # Storage fails (an I/O error): nothing was sent. The key stays taken while this waits,
            # so the row is not listed and dispatched again at once, round after round.
            failures = self._read_failures.get(listed.order_key, 0) + 1
            self._read_failures[listed.order_key] = failures
            delay = _pause(failures)
            log.error(
                "outbox.read_failed",
                extra=fields(id=listed.id, error=type(exc).__name__, failures=failures, retry_in=delay),
            )
            await asyncio.sleep(delay)
            return
        self._read_failures.pop(listed.order_key, None)
        if message is None or message.status != "pending" or message.attempts != listed.attempts:
            return
        try:
            outcome: Outcome = await self._senders[message.channel].send(message)
        except BadRow as exc:  # a stored row that fits no kind: never sent half right
            log.error("outbox.bad_row", extra=fields(id=message.id, channel=message.channel))
            outcome = Final(str(exc))
        except Exception as exc:
            log.exception("outbox.sender_error", extra=fields(id=message.id, channel=message.channel))
            outcome = Retry(f"internal: {type(exc).__name__}")
        try:
            await self._record(message, outcome)
        except Exception as exc:
            # The row is still pending: keep the outcome and record it later, without sending again.
            # (A crash meanwhile sends it again after the restart, with its same retry key.)
            self._keep(message, outcome, exc, 1)

    async def _record(self, message: OutboxMessage, outcome: Outcome) -> None:
        """Store the outcome (in a transaction shared with the outcomes recorded at about the same
        time), then log it and tell the listeners of a final one. Raises when storing it failed."""
        final = await self.records.submit(functools.partial(self._write_outcome, message, outcome))
        if final is None:
            return  # stored already (an earlier try whose caller was cut off): nothing twice
        self._log(message, outcome, message.attempts + 1, final)
        if final:
            for listener in self.on_final:
                try:
                    await listener(message, outcome)
                except Exception:
                    log.exception("outbox.listener_failed", extra=fields(id=message.id))

    async def _write_outcome(self, message: OutboxMessage, outcome: Outcome, tx: Repositories) -> bool | None:
        """One outcome's changes; returns whether it is final (no retry left), or None when this
        outcome is stored already: a try cut off by a stop may have been written after all, and a
        second write would queue a split multicast's pushes twice or count an attempt twice."""
        now = self._clock()
        attempt = message.attempts + 1
        if isinstance(outcome, Delivered):
            # The common case in one statement: marked sent only if no outcome was stored since.
            if not await tx.outbox.mark_sent(message.id, now, outcome.via, attempts=message.attempts):
                return None
            if outcome.record is not None:
                await outcome.record(tx)
            return True
        if not await tx.outbox.unchanged_since(message.id, message.attempts):
            return None
        if isinstance(outcome, Final) and outcome.cancelled and outcome.whole_key:
            await tx.outbox.cancel_pending(message.order_key, outcome.reason)
        elif isinstance(outcome, Final) and outcome.cancelled:
            await tx.outbox.replace_undelivered(message.id, None, outcome.reason)
        elif isinstance(outcome, Final):
            await tx.outbox.finish(message.id, "failed", outcome.reason)
            monthly = outcome.reason.startswith("monthly_limit")
            await self._alert(tx, message, "line_monthly_limit" if monthly else "outbox_refused", outcome)
        elif attempt >= self._policy.max_attempts:
            await tx.outbox.finish(message.id, "dead", f"gave up after {attempt} attempts: {outcome.reason}")
            await self._alert(tx, message, "outbox_dead", outcome)
        else:
            delay = self._policy.delay(attempt, self._rng, outcome.after)
            await tx.outbox.retry_later(message.id, now + timedelta(seconds=delay), outcome.reason)
            if outcome.drop_reply_token:
                await tx.outbox.drop_reply_token(message.id)
            return False
        return True

    async def _alert(self, tx: Repositories, message: OutboxMessage, cause: Cause, outcome: Outcome) -> None:
        # A post to the ops channel that fails is logged, never reported again to the ops channel.
        if self._alerts is None or message.order_key == OPS_ORDER_KEY:
            return
        reason = outcome.reason if isinstance(outcome, Final | Retry) else ""
        await self._alerts.note(tx, cause, channel=message.channel, id=message.id, reason=reason[:200])

    @staticmethod
    def _log(message: OutboxMessage, outcome: Outcome, attempt: int, final: bool) -> None:
        base = {"id": message.id, "channel": message.channel, "attempt": attempt}
        if isinstance(outcome, Delivered):
            log.info("outbox.sent", extra=fields(**base, via=outcome.via))
        elif isinstance(outcome, Final) and outcome.reason.startswith("monthly_limit"):
            log.error("outbox.monthly_limit_reached", extra=fields(**base, reason=outcome.reason))
        elif isinstance(outcome, Final):
            level = logging.INFO if outcome.cancelled else logging.ERROR
            log.log(level, "outbox.not_sent", extra=fields(**base, reason=outcome.reason))
        elif final:
            log.error("outbox.dead_letter", extra=fields(**base, reason=outcome.reason))
        else:
            log.warning("outbox.retry", extra=fields(**base, reason=outcome.reason))


def _pause(failures: int) -> float:
    """How long storage is left alone after its `failures`-th failure in a row: doubling, capped."""
    return min(RECORD_RETRY_MAX_SECONDS, RECORD_RETRY_SECONDS * 2.0 ** (failures - 1))
