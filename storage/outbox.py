"""Outgoing messages, written in the same transaction as the change that caused them.

Rows that share an `order_key` (one citizen, one Slack thread) are delivered strictly in id order:
only the oldest pending row of each key is ever due.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic_core import PydanticSerializationError, to_json

from storage.base import Repository, from_row
from storage.outbox_rows import BadRow, OutboxRow, decode, encode
from storage.timefmt import opt_to_db, to_db

OutboxStatus = Literal["pending", "sent", "failed", "dead", "cancelled"]


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    channel: str
    recipient: str
    order_key: str
    payload: str
    reply_token: str | None
    reply_token_expires_at: datetime | None
    retry_key: str
    status: OutboxStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    case_id: int | None
    created_at: datetime
    sent_at: datetime | None
    delivered_via: str | None
    reply_attempted_at: datetime | None

    @property
    def body(self) -> Any:
        return json.loads(self.payload)

    @property
    def row(self) -> OutboxRow:
        """What the row asks to deliver; `BadRow` when its stored body fits no kind."""
        body = self.body
        if not isinstance(body, dict):
            raise BadRow("outbox row body is not an object")
        return decode(body)


def _payload(row: OutboxRow) -> str:
    """The row's body as JSON text, written by pydantic's encoder (compact, a third of json.dumps's
    time): what is read back is the same. What that encoder refuses (a lone surrogate in a text) is
    written by json.dumps as before, so that it fails where it did, storing it."""
    body = encode(row)
    try:
        return to_json(body).decode()
    except PydanticSerializationError:
        return json.dumps(body, ensure_ascii=False)


class OutboxRepository(Repository):
    async def add(
        self,
        row: OutboxRow,
        recipient: str,
        now: datetime,
        *,
        order_key: str | None = None,
        reply_token: str | None = None,
        reply_token_expires_at: datetime | None = None,
        case_id: int | None = None,
    ) -> OutboxMessage:
        stamp = to_db(now)
        values: dict[str, Any] = {
            "channel": row.channel,
            "recipient": recipient,
            "order_key": order_key or f"{row.channel}:{recipient}",
            "payload": _payload(row),
            "reply_token": reply_token,
            "reply_token_expires_at": opt_to_db(reply_token_expires_at),
            # One key for every attempt, so the platform can tell a retry from a new message.
            "retry_key": str(uuid.uuid4()),
            "next_attempt_at": stamp,
            "case_id": case_id,
            "created_at": stamp,
        }
        message_id = await self._insert("outbox", values)
        # The row as a read would give it (the columns not written take their defaults), without
        # the read: one trip to the database per queued message instead of two.
        return from_row(
            OutboxMessage,
            {
                **values,
                "id": message_id,
                "status": "pending",
                "attempts": 0,
                "last_error": None,
                "sent_at": None,
                "delivered_via": None,
                "reply_attempted_at": None,
            },
        )

    async def get(self, message_id: int) -> OutboxMessage | None:
        row = await self._one("SELECT * FROM outbox WHERE id = ?", (message_id,))
        return None if row is None else from_row(OutboxMessage, row)

    async def heads(
        self, channels: Sequence[str], limit: int, skip_keys: Sequence[str] = ()
    ) -> list[OutboxMessage]:
        """The oldest pending message of each order key on these channels, the earliest due first:
        those whose time has come, then the next to come due. `skip_keys` leaves out keys whose head
        is already being delivered.

        Read in the order they come due, each checked for an older pending row of its key (an
        index search): the work is the rows looked at until `limit` heads are found. In normal
        running that is about `limit`; during an outage, when each key's head waits for its retry
        and the rows queued behind it are due earlier, it is every one of those rows (9-12 ms for
        20,000 pending rows, about what the listing by key cost before).
        """
        channel_marks = ", ".join("?" for _ in channels)
        skip = f" AND o.order_key NOT IN ({', '.join('?' for _ in skip_keys)})" if skip_keys else ""
        rows = await self._all(
            f"SELECT o.* FROM outbox o WHERE o.status = 'pending' AND o.channel IN ({channel_marks}){skip}"
            " AND NOT EXISTS (SELECT 1 FROM outbox older WHERE older.order_key = o.order_key"
            " AND older.status = 'pending' AND older.id < o.id)"
            " ORDER BY o.next_attempt_at, o.id LIMIT ?",
            (*channels, *skip_keys, limit),
        )
        return [from_row(OutboxMessage, r) for r in rows]

    async def due(
        self, now: datetime, channels: Sequence[str], limit: int = 100, skip_keys: Sequence[str] = ()
    ) -> list[OutboxMessage]:
        """The heads (above) whose time has come."""
        return [m for m in await self.heads(channels, limit, skip_keys) if m.next_attempt_at <= now]

    async def unchanged_since(self, message_id: int, attempts: int) -> bool:
        """Still pending after exactly `attempts` attempts: no outcome of a later one is stored yet.
        (Asked inside the writer's transaction, so nothing can slip in between.)"""
        row = await self._one(
            "SELECT 1 FROM outbox WHERE id = ? AND status = 'pending' AND attempts = ?",
            (message_id, attempts),
        )
        return row is not None

    async def mark_sent(self, message_id: int, now: datetime, via: str, *, attempts: int) -> bool:
        """Delivered; `via` says how (LINE: "reply" or "push"; Slack: the API method). Only while the
        row is pending after exactly `attempts` attempts (as `unchanged_since`): False when not."""
        # The body (what the citizen or staff were told) is cleared once delivered; the row stays.
        changed = await self._run(
            "UPDATE outbox SET status = 'sent', sent_at = ?, delivered_via = ?, attempts = attempts + 1,"
            " last_error = NULL, payload = '{}', reply_token = NULL"
            " WHERE id = ? AND status = 'pending' AND attempts = ?",
            (to_db(now), via, message_id, attempts),
        )
        return changed == 1

    async def count_delivered(self, channel: str, via: str, since: datetime) -> int:
        """How many messages went out one way since a moment (LINE pushes this month, for the quota)."""
        row = await self._one(
            "SELECT count(*) FROM outbox WHERE channel = ? AND delivered_via = ? AND sent_at >= ?",
            (channel, via, to_db(since)),
        )
        assert row is not None
        return int(row[0])

    async def retry_later(self, message_id: int, next_attempt_at: datetime, error: str) -> None:
        await self._run(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?"
            " WHERE id = ? AND status = 'pending'",
            (to_db(next_attempt_at), error, message_id),
        )

    async def finish(self, message_id: int, status: Literal["failed", "dead"], error: str) -> None:
        """Stop trying: `failed` is a final answer from the platform, `dead` means retries ran out."""
        await self._run(
            "UPDATE outbox SET status = ?, attempts = attempts + 1, last_error = ? WHERE id = ? AND status = 'pending'",
            (status, error, message_id),
        )

    async def mark_reply_attempt(self, message_id: int, now: datetime) -> None:
        """Recorded (and committed) before a reply request leaves: the token may be spent from here on."""
        await self._run(
            "UPDATE outbox SET reply_attempted_at = coalesce(reply_attempted_at, ?) WHERE id = ?",
            (to_db(now), message_id),
        )

    async def drop_reply_token(self, message_id: int) -> None:
        """After the token is spent or stale, the message goes out as a push."""
        await self._run("UPDATE outbox SET reply_token = NULL WHERE id = ?", (message_id,))

    async def cancel_pending(self, order_key: str, reason: str) -> int:
        return await self._run(
            "UPDATE outbox SET status = 'cancelled', last_error = ?, payload = '{}', reply_token = NULL"
            " WHERE order_key = ? AND status = 'pending'",
            (reason, order_key),
        )

    async def forget(self, order_key: str, reason: str) -> int:
        """Deletion: pending messages of this key are cancelled, and no row of it keeps a body or an
        error text (failed and dead ones included). Returns how many were cancelled."""
        cancelled = await self.cancel_pending(order_key, reason)
        await self._run(
            # An error text stored by an older version may quote what was sent.
            "UPDATE outbox SET payload = '{}', reply_token = NULL,"
            " last_error = CASE status WHEN 'cancelled' THEN last_error END"
            " WHERE order_key = ? AND (payload <> '{}' OR (status <> 'cancelled' AND last_error IS NOT NULL))",
            (order_key,),
        )
        return cancelled

    async def drop_recipient(self, line_user_id: str) -> int:
        """Deletion: take a citizen out of the multicasts (reminders, notices to many) that still name
        them, failed and dead ones included (`outbox retry` would send those again); returns how many
        rows changed. A row left with nobody is never sent: a pending one is cancelled, and a failed
        or dead one loses its body, so that a retry cannot bring it back."""
        rows = await self._all(
            "SELECT id FROM outbox"
            # `+channel` keeps the planner off outbox_sent (which leads with channel: every LINE message
            # ever sent); the status narrows the search to the rows not sent.
            " WHERE status IN ('pending', 'failed', 'dead') AND +channel = 'line' AND json_valid(payload)"
            " AND json_type(payload, '$.to') = 'array'"
            " AND EXISTS (SELECT 1 FROM json_each(outbox.payload, '$.to') WHERE value = ?)",
            (line_user_id,),
        )
        ids = [int(row[0]) for row in rows]
        if not ids:
            return 0
        marks = ", ".join("?" for _ in ids)
        await self._run(
            "UPDATE outbox SET payload = json_set(payload, '$.to',"
            " (SELECT json_group_array(value) FROM json_each(outbox.payload, '$.to') WHERE value <> ?)),"
            # An error text kept from an older version may quote the request (its recipients).
            " last_error = CASE WHEN instr(last_error, ?) > 0 THEN NULL ELSE last_error END"
            f" WHERE id IN ({marks})",
            (line_user_id, line_user_id, *ids),
        )
        await self._run(
            "UPDATE outbox SET payload = '{}', reply_token = NULL,"
            " last_error = CASE status WHEN 'pending' THEN 'no recipient left' ELSE last_error END,"
            " status = CASE status WHEN 'pending' THEN 'cancelled' ELSE status END"
            f" WHERE id IN ({marks}) AND json_array_length(payload, '$.to') = 0",
            tuple(ids),
        )
        return len(ids)

    async def forget_case(self, case_id: int, reason: str) -> int:
        """The same for every row about a case (its Slack posts, staff answers to the citizen)."""
        cancelled = await self._run(
            "UPDATE outbox SET status = 'cancelled', last_error = ?, payload = '{}', reply_token = NULL"
            " WHERE case_id = ? AND status = 'pending'",
            (reason, case_id),
        )
        await self._run(
            "UPDATE outbox SET payload = '{}', reply_token = NULL,"
            " last_error = CASE status WHEN 'cancelled' THEN last_error END"
            " WHERE case_id = ? AND (payload <> '{}' OR (status <> 'cancelled' AND last_error IS NOT NULL))",
            (case_id,),
        )
        return cancelled

    async def requeue_undelivered(self, now: datetime, created_since: datetime) -> int:
        """Put failed and dead messages written since a moment back in line, due now; returns how many.

        Their reply tokens are long stale, so they go out as pushes, with their same retry keys.
        """
        return await self._run(
            "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ?, reply_token = NULL"
            " WHERE status IN ('failed', 'dead') AND payload <> '{}' AND created_at >= ?",
            (to_db(now), to_db(created_since)),
        )

    async def purge_undelivered(self, created_before: datetime) -> int:
        """Clear the bodies of messages that failed or went dead and were written before a moment."""
        return await self._run(
            "UPDATE outbox SET payload = '{}', reply_token = NULL"
            " WHERE status IN ('failed', 'dead') AND payload <> '{}' AND created_at < ?",
            (to_db(created_before),),
        )

    async def count_pending(self, order_key: str) -> int:
        """How many rows of this order key wait to be delivered (the first may be in flight)."""
        row = await self._one(
            "SELECT count(*) AS n FROM outbox WHERE order_key = ? AND status = 'pending'", (order_key,)
        )
        return 0 if row is None else int(row["n"])

    async def undelivered(self, order_key: str) -> list[OutboxMessage]:
        """The rows of a key not delivered that still hold a body (pending, failed, dead), oldest first."""
        rows = await self._all(
            "SELECT * FROM outbox WHERE order_key = ? AND status IN ('pending', 'failed', 'dead')"
            " AND payload <> '{}' ORDER BY id",
            (order_key,),
        )
        return [from_row(OutboxMessage, r) for r in rows]

    async def replace_undelivered(self, message_id: int, row: OutboxRow | None, reason: str) -> bool:
        """Give a row not delivered another body (its status, retry key and place in line kept), or,
        with None, none: a pending row is then cancelled with `reason`. False when it was delivered
        or cancelled meanwhile."""
        if row is not None:
            changed = await self._run(
                "UPDATE outbox SET payload = ? WHERE id = ? AND status IN ('pending', 'failed', 'dead')",
                (_payload(row), message_id),
            )
        else:
            changed = await self._run(
                "UPDATE outbox SET payload = '{}', reply_token = NULL,"
                " last_error = CASE status WHEN 'pending' THEN ? ELSE last_error END,"
                " status = CASE status WHEN 'pending' THEN 'cancelled' ELSE status END"
                " WHERE id = ? AND status IN ('pending', 'failed', 'dead')",
                (reason, message_id),
            )
        return changed == 1

    async def count(self, status: OutboxStatus) -> int:
        row = await self._one("SELECT count(*) FROM outbox WHERE status = ?", (status,))
        assert row is not None
        return int(row[0])

    async def in_order(self, order_key: str) -> list[OutboxMessage]:
        rows = await self._all("SELECT * FROM outbox WHERE order_key = ? ORDER BY id", (order_key,))
        return [from_row(OutboxMessage, r) for r in rows]
