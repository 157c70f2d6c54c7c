"""Outgoing rows are typed: one serialiser, old rows still read, a row that fits no kind is never sent."""

from __future__ import annotations

import sqlite3
from typing import Any, get_args

import pytest

from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from flows.texts import Texts
from storage.outbox_rows import (
    BadRow,
    CardUpdate,
    CaseAnonymised,
    CaseCreated,
    CaseFollowup,
    CaseReopened,
    ChannelNote,
    ChannelPost,
    LineMessages,
    LineMulticast,
    MulticastPurpose,
    OpsAlert,
    OutboxRow,
    ThreadNote,
    ThreadPurge,
    decode,
    encode,
)
from tests.harness import wait_for

TEXT = [{"type": "text", "text": "こんにちは"}]
ROWS: list[OutboxRow] = [
    LineMessages(TEXT),
    LineMulticast(["U1", "U2"], TEXT, "reminder"),
    OpsAlert("LINE に届きません"),
    ChannelPost("明日の申込者", [{"type": "section", "text": {"type": "mrkdwn", "text": "*3名*"}}]),
    CaseCreated(1),
    CardUpdate(1),
    ChannelNote(1, "未対応です"),
    ThreadNote(1, "メモ"),
    CaseFollowup(1, 7),
    CaseReopened(1),
    CaseAnonymised(1),
    ThreadPurge(1),
]


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.kind)
def test_every_kind_goes_through_the_one_serialiser_and_back(row: OutboxRow) -> None:
    body = encode(row)
    assert body["kind"] == row.kind
    assert decode(body) == row


def test_rows_written_before_kinds_were_typed_still_read() -> None:
    assert decode({"event": "card_update", "case_id": 3}) == CardUpdate(3)
    assert decode({"event": "case_followup", "case_id": 3, "message_id": 9}) == CaseFollowup(3, 9)
    assert decode({"messages": TEXT}) == LineMessages(TEXT)
    assert decode({"kind": "multicast", "to": ["U1"], "messages": TEXT}) == LineMulticast(["U1"], TEXT)


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "card_updat", "case_id": 3},  # a misspelt kind
        {"event": "case_created"},  # a field missing
        {"kind": "thread_note", "case_id": "three", "text": "x"},  # a field of the wrong type
        {"kind": "multicast", "to": "U1", "messages": TEXT},  # recipients not a list
        {"kind": 5},
        {},
    ],
)
def test_a_body_that_fits_no_kind_is_refused(body: dict[str, Any]) -> None:
    with pytest.raises(BadRow):
        decode(body)


async def test_a_damaged_row_fails_alone_and_is_never_sent(bot: Runtime, line: FakeLine) -> None:
    async with bot.db.transaction() as tx:
        damaged = await tx.outbox.add(LineMessages(TEXT), "U_HANAKO", bot.clock())
        fine = await tx.outbox.add(LineMessages(TEXT), "U_TARO", bot.clock())
    # What a damaged disk or an older version might leave: a kind nobody declares.
    with sqlite3.connect(bot.db.path) as conn:
        conn.execute(
            "UPDATE outbox SET payload = ? WHERE id = ?", ('{"kind": "pigeon", "to": "U_X"}', damaged.id)
        )
    bot.outbox.wake()

    async def settled() -> bool:
        rows = [await bot.db.read.outbox.get(i) for i in (damaged.id, fine.id)]
        return all(r is not None and r.status != "pending" for r in rows)

    await wait_for(settled)
    after = await bot.db.read.outbox.get(damaged.id)
    assert after is not None and after.status == "failed" and "pigeon" in (after.last_error or "")
    assert [m.to for m in line.sent_messages()] == ["U_TARO"]


def test_every_multicast_purpose_is_worded_for_the_quota_warning() -> None:
    texts = Texts.load()
    for purpose in get_args(MulticastPurpose):
        assert texts.get(f"reminders.purpose_{purpose or 'other'}")
    with pytest.raises(BadRow):  # a purpose nobody declared is no multicast
        decode({"kind": "multicast", "to": ["U1"], "messages": TEXT, "purpose": "gossip"})
