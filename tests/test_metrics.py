"""GET /metrics: Prometheus text that prometheus_client's own parser reads, with counters that move."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from bot.metrics import TimedSlackClient
from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.line_webhook import text_event
from tests.harness import post_events, settings_for, wait_for

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(base_url: str) -> tuple[str, Samples]:
    async with aiohttp.ClientSession() as session, session.get(f"{base_url}/metrics") as response:
        assert response.status == 200
        content_type = response.headers["Content-Type"]
        text = await response.text()
    assert content_type.startswith("text/plain") and "version=0.0.4" in content_type
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_parse_and_move_when_webhooks_arrive(bot: Runtime, line: FakeLine) -> None:
    text, before = await scrape(bot.base_url)
    # Every figure is there from the first scrape, with the bot's names and help.
    for name in (
        "madoguchi_inbox_backlog",
        "madoguchi_inbox_failed",
        "madoguchi_line_push_requests_month",
        "madoguchi_reminder_lag_seconds",
    ):
        assert (name, ()) in before, name
    for channel in ("line", "slack"):
        assert ("madoguchi_outbox_pending", (("channel", channel),)) in before
        assert ("madoguchi_outbox_dead", (("channel", channel),)) in before
    assert "# HELP madoguchi_webhooks_total" in text
    assert value(before, "madoguchi_webhooks_total", endpoint="line", result="accepted") == 0

    users = [f"U_METRICS_{i}" for i in range(3)]
    for user in users:
        line.set_profile(user, "市民")
        event = text_event(user, "ヘルプ", reply_token=line.issue_reply_token(user))
        assert (await post_events(bot.base_url, [event]))[0] == 200
    # A forged one is counted too, as what it is.
    assert (await post_events(bot.base_url, [text_event("U_X", "x")], secret="wrong"))[0] == 401
    await wait_for(lambda: all(line.sent_messages(u) for u in users))

    async def delivered() -> bool:
        _, now = await scrape(bot.base_url)
        return value(now, "madoguchi_deliveries_total", channel="line", result="reply") >= 3

    await wait_for(delivered)
    _, after = await scrape(bot.base_url)
    assert value(after, "madoguchi_webhooks_total", endpoint="line", result="accepted") == 3
    assert value(after, "madoguchi_webhooks_total", endpoint="line", result="bad_signature") == 1
    assert value(after, "madoguchi_deliveries_total", channel="line", result="reply") == 3
    # LINE API latency, by path template: the reply endpoint was timed three times (at least).
    assert (
        value(after, "madoguchi_api_request_seconds_count", platform="line", endpoint="/v2/bot/message/reply")
        >= 3
    )
    assert value(after, "madoguchi_inbox_backlog") == 0
    assert value(after, "madoguchi_reminder_lag_seconds") == 0  # nothing creates reminders yet
    assert value(after, "madoguchi_line_push_requests_month") == 0  # replies are free, not pushes


async def test_pushes_and_pending_rows_are_read_from_the_database(bot: Runtime, line: FakeLine) -> None:
    # No reply token LINE knows: the answer goes out as a push, which counts against the quota.
    line.set_profile("U_PUSHED", "市民")
    await post_events(bot.base_url, [text_event("U_PUSHED", "ヘルプ", reply_token="stale")])

    async def pushed() -> bool:
        _, now = await scrape(bot.base_url)
        return value(now, "madoguchi_line_push_requests_month") >= 1

    await wait_for(pushed)
    _, samples = await scrape(bot.base_url)
    assert value(samples, "madoguchi_deliveries_total", channel="line", result="push") >= 1
    assert value(samples, "madoguchi_outbox_pending", channel="line") == 0


async def test_each_runtime_has_its_own_registry(tmp_path: Path, line: FakeLine, bot: Runtime) -> None:
    (tmp_path / "second").mkdir()
    async with Runtime(settings_for(tmp_path / "second", line.base_url)) as second:
        await post_events(second.base_url, [text_event("U_X", "x")], secret="wrong")
        _, mine = await scrape(second.base_url)
        _, theirs = await scrape(bot.base_url)
    assert value(mine, "madoguchi_webhooks_total", endpoint="line", result="bad_signature") == 1
    assert value(theirs, "madoguchi_webhooks_total", endpoint="line", result="bad_signature") == 0


async def test_slack_calls_are_timed_by_method_name() -> None:
    seen: list[tuple[str, float]] = []
    async with FakeSlack() as slack:
        client = TimedSlackClient(
            token=slack.bot_token, base_url=slack.api_url, observe=lambda m, s: seen.append((m, s))
        )
        await client.auth_test()
        await client.chat_postMessage(channel="C1", text="hi")
    assert [m for m, _ in seen] == ["auth.test", "chat.postMessage"]
    assert all(s >= 0 for _, s in seen)
