"""Slack answering 429 with Retry-After to everything for a while: everything delivered, once, in order,
and no request for a message sooner than Slack said.

Waiting when `serve` starts: four case cards, each with three thread notes to follow it (the card's ts
is needed first), and five posts in each of two channels, queued as every feature queues Slack work
(`tx.outbox.add` of the typed rows). Slack answers every request with 429 and `Retry-After:
DRILL_RETRY_AFTER` (1 s) until the first waiting row of every order key has been refused
`DRILL_429_ROUNDS` (2) times by our retry policy (the SDK's own rate-limit handler retries each
request once after Retry-After, so each round is two refused requests), then Slack is back.
"""

from __future__ import annotations

import itertools
import json
import os
import urllib.parse
from collections import defaultdict
from pathlib import Path

import pytest

from bot.citizen import queue_case_row
from bot.clock import utc_now
from bot.config import load_settings
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.fake_slack import FakeSlack
from storage import Database
from storage.cases import NewCase
from storage.outbox_rows import CaseCreated, ChannelPost, ThreadNote
from tests.drills.drill import every_head_tried, integrity, serve_logged, settle
from tests.drills.relay import Refusal, Relay, slack_429
from tests.harness import LINE_TOKEN, wait_for, write_config

pytestmark = pytest.mark.slow

RETRY_AFTER = int(os.environ.get("DRILL_RETRY_AFTER", "1"))
ROUNDS = int(os.environ.get("DRILL_429_ROUNDS", "2"))
CASES = 4
NOTES = 3
CHANNELS = ("C_EVENTS", "C_OPS")
POSTS = 5
# A round is two requests Retry-After apart, then our own wait of at least Retry-After.
STORM_BOUND = 60 + 4 * RETRY_AFTER * ROUNDS


def _text(refusal: Refusal) -> str:
    """The message text a refused request carried (the SDK sends JSON, or a form)."""
    try:
        params = json.loads(refusal.body)
    except ValueError:
        params = {k: v[0] for k, v in urllib.parse.parse_qs(refusal.body.decode()).items()}
    return str(params.get("text", ""))


async def _queue(database: Path, config: Path) -> dict[int, list[str]]:
    """The Slack work waiting at start; returns each case's thread notes by case id."""
    settings = load_settings(config, environ={})
    db = await Database.open(database)
    notes: dict[int, list[str]] = {}
    now = utc_now()  # due at once
    try:
        async with db.transaction() as tx:
            for i in range(CASES):
                new = NewCase(None, "general", "個人", f"利用者 {i}", "line", f"相談 {i}")
                case = await tx.cases.create(new, now, now.year)
                await queue_case_row(tx, settings, case, CaseCreated(case.id), now)
                notes[case.id] = [f"case {i} note {n}" for n in range(NOTES)]
                for note in notes[case.id]:
                    await queue_case_row(tx, settings, case, ThreadNote(case.id, note), now)
            for channel in CHANNELS:
                for n in range(POSTS):
                    await tx.outbox.add(ChannelPost(f"{channel} post {n}"), channel, now)
    finally:
        await db.close()
    return notes


@pytest.mark.timeout(60 + 2 * STORM_BOUND)
async def test_slack_429_to_everything_for_a_while_then_everything_delivered_once_in_order(
    tmp_path: Path,
) -> None:
    database = tmp_path / "madoguchi.sqlite3"
    async with (
        FakeLine(access_token=LINE_TOKEN) as line,
        FakeSlack() as slack,
        Relay(slack.base_url) as relay,
    ):
        config = write_config(
            tmp_path, line.base_url, slack_api_url=f"{relay.base_url}/api/", max_attempts=50
        )
        notes = await _queue(database, config)
        await relay.fail_everything(slack_429(RETRY_AFTER))
        keys = CASES + len(CHANNELS)
        async with serve_logged(config) as (_, log):
            await wait_for(lambda: every_head_tried(database, "slack", ROUNDS, keys), within=STORM_BOUND)
            assert slack.find_calls("chat.postMessage") == []  # nothing got through the storm
            await relay.restore()
            await settle(database)

        # Retry-After was honoured: no message was asked for again sooner than Slack said.
        refused: dict[str, list[float]] = defaultdict(list)
        for refusal in relay.refusals:
            refused[_text(refusal)].append(refusal.at)
        assert len(refused) >= keys
        for times in refused.values():
            assert all(b - a >= RETRY_AFTER - 0.05 for a, b in itertools.pairwise(times)), times

        # Everything delivered once, in order: the posts, each card, each card's thread.
        for channel in CHANNELS:
            assert slack.texts_in(channel) == [f"{channel} post {n}" for n in range(POSTS)]
        db = await Database.open(database, migrate=False)
        try:
            for case_id, thread in notes.items():
                case = await db.read.cases.get(case_id)
                assert case is not None and case.slack_channel and case.slack_ts
                cards = [m for m in slack.messages_in(case.slack_channel) if case.number in m.get("text", "")]
                assert [m["ts"] for m in cards] == [case.slack_ts]
                assert slack.texts_in(case.slack_channel, case.slack_ts)[-NOTES:] == thread
        finally:
            await db.close()
        assert integrity(database) == "ok"
        assert "Traceback" not in "".join(log)
