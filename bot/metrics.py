"""GET /metrics: the bot's figures in the Prometheus text format, with the `prometheus_client` package.

One registry per Runtime (never the process-wide default), so several runtimes in one process (tests,
the demo) do not clash. Two kinds of figures:

- counted as they happen: webhook requests by endpoint and result, final delivery outcomes by channel
  and result, and the latency of every LINE and Slack API call (by the API's own path or method name:
  never an id, so no personal data and no unbounded labels);
- read from the database at each scrape (the source of truth, right after a restart too): the inbox
  backlog and failures, outbox rows pending and dead by channel, LINE pushes this month, reminder lag.

Reminder lag is how late the most overdue pending reminder is; it stays 0 until something creates
reminders (the events feature), and is 0 whenever none is overdue.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiohttp import web
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.clock import Clock
from bot.delivery import Delivered, Final, Outcome
from storage import Database
from storage.outbox import OutboxMessage

Observe = Callable[[str, float], None]
CHANNELS = ("line", "slack")
# API calls take from a few ms (loopback) to the 10 s timeout.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Webhook endpoints counted by the middleware, by path.
ENDPOINTS = {"/line/webhook": "line", "/slack/events": "slack"}


def webhook_result(status: int) -> str:
    """A webhook answer as a small fixed set of results."""
    if status < 300:
        return "accepted"
    return {
        400: "malformed",
        401: "bad_signature",
        408: "timeout",
        413: "too_large",
    }.get(status, "error" if status >= 500 else "refused")


def delivery_result(outcome: Outcome) -> str:
    """A final outcome: how it went out (reply, push, multicast, or the Slack method), or why not."""
    if isinstance(outcome, Delivered):
        return outcome.via
    if isinstance(outcome, Final):
        if outcome.cancelled:
            return "cancelled"
        return "monthly_limit" if outcome.reason.startswith("monthly_limit") else "refused"
    return "dead"  # retries exhausted


class Metrics:
    def __init__(self, db: Database, clock: Clock, month_start: Callable[[datetime], datetime]) -> None:
        self._db = db
        self._clock = clock
        self._month_start = month_start
        self.registry = CollectorRegistry()
        r = self.registry
        self.webhooks = Counter(
            "madoguchi_webhooks",
            "Webhook requests answered, by endpoint (line, slack) and result",
            ["endpoint", "result"],
            registry=r,
        )
        self.deliveries = Counter(
            "madoguchi_deliveries",
            "Outgoing messages by final result: reply, push, multicast or a Slack method when sent; "
            "refused, monthly_limit, dead or cancelled when not",
            ["channel", "result"],
            registry=r,
        )
        self.api_latency = Histogram(
            "madoguchi_api_request_seconds",
            "LINE and Slack API calls: seconds until the answer (or the failure), by platform and endpoint",
            ["platform", "endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.inbox_backlog = Gauge(
            "madoguchi_inbox_backlog", "Incoming events stored and not yet handled", registry=r
        )
        self.inbox_failed = Gauge(
            "madoguchi_inbox_failed",
            "Incoming events that failed for good (see `madoguchi inbox retry`)",
            registry=r,
        )
        self.outbox_pending = Gauge(
            "madoguchi_outbox_pending",
            "Outgoing messages waiting to be sent, by channel",
            ["channel"],
            registry=r,
        )
        self.outbox_dead = Gauge(
            "madoguchi_outbox_dead",
            "Outgoing messages given up after every retry, by channel (see `madoguchi outbox retry`)",
            ["channel"],
            registry=r,
        )
        self.pushes_month = Gauge(
            "madoguchi_line_push_requests_month",
            "LINE push requests sent this month (in the center's timezone); pushes count against the quota",
            registry=r,
        )
        self.reminder_lag = Gauge(
            "madoguchi_reminder_lag_seconds",
            "How overdue the most overdue pending reminder is (0 when none is)",
            registry=r,
        )
        for channel in CHANNELS:  # present from the first scrape, not only once something happened
            self.outbox_pending.labels(channel)
            self.outbox_dead.labels(channel)

    # -- counted as they happen -----------------------------------------------------------------

    def observe_line(self, endpoint: str, seconds: float) -> None:
        self.api_latency.labels("line", endpoint).observe(seconds)

    def observe_slack(self, endpoint: str, seconds: float) -> None:
        self.api_latency.labels("slack", endpoint).observe(seconds)

    async def on_delivery(self, message: OutboxMessage, outcome: Outcome) -> None:
        """An OutboxWorker.on_final listener."""
        self.deliveries.labels(message.channel, delivery_result(outcome)).inc()

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Counts the answers of the webhook endpoints by result (the handlers stay as they are)."""
        endpoint = ENDPOINTS.get(request.path)
        if endpoint is None:
            return await handler(request)
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            self.webhooks.labels(endpoint, webhook_result(exc.status)).inc()
            raise
        except Exception:
            self.webhooks.labels(endpoint, "error").inc()
            raise
        self.webhooks.labels(endpoint, webhook_result(response.status)).inc()
        return response

    # -- read at each scrape ----------------------------------------------------------------------

    async def refresh(self) -> None:
        read = self._db.read
        now = self._clock()
        self.inbox_backlog.set(await read.inbox.count("pending"))
        self.inbox_failed.set(await read.inbox.count("failed"))
        pending = await read.health.outbox_by_channel("pending")
        dead = await read.health.outbox_by_channel("dead")
        for channel in {*CHANNELS, *pending, *dead}:
            self.outbox_pending.labels(channel).set(pending.get(channel, 0))
            self.outbox_dead.labels(channel).set(dead.get(channel, 0))
        self.pushes_month.set(await read.outbox.count_delivered("line", "push", self._month_start(now)))
        earliest = await read.reminders.earliest_pending_due()
        # The earliest not yet due: 0, not a negative lag.
        lag = (now - earliest).total_seconds() if earliest is not None else 0.0
        self.reminder_lag.set(max(0.0, lag))

    async def handle(self, request: web.Request) -> web.Response:
        """GET /metrics."""
        await self.refresh()
        response = web.Response(body=generate_latest(self.registry))
        # The classic text format (0.0.4): every name here is a plain one, and every Prometheus reads it.
        response.headers["Content-Type"] = CONTENT_TYPE_PLAIN_0_0_4
        return response


# -- timing the Slack client (the LINE one is in bot/line/api.py) -------------------------------


class TimedSlackClient(AsyncWebClient):
    """Slack's async Web API client, timing every call by its method name (chat.postMessage)."""

    def __init__(self, *args: Any, observe: Observe | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._observe = observe

    async def api_call(self, api_method: str, **kwargs: Any) -> AsyncSlackResponse:
        started = time.perf_counter()
        try:
            return await super().api_call(api_method, **kwargs)
        finally:
            if self._observe is not None:
                self._observe(api_method, time.perf_counter() - started)
