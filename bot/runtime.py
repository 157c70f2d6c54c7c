"""Everything `serve` runs, wired together: storage, HTTP routes, LINE adapter, inbox and outbox workers.

Start order follows the data (storage first, HTTP last); stop order is the reverse, so nothing
accepted is left half done: HTTP stops accepting and finishes requests in flight, queued webhook
events are committed, workers finish the item under way, then the clients and the database close.
"""

from __future__ import annotations

import gc
import logging
from contextlib import AsyncExitStack
from functools import partial
from types import TracebackType

from aiohttp import web
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.announce import draw_announcement
from bot.backup import NightlyBackup
from bot.clock import Clock, utc_now
from bot.config import Settings
from bot.delivery import RetryPolicy, Sender
from bot.events_ics import EventsFeed
from bot.group_commit import WriteGroup
from bot.idle_sweeper import IdleSweeper
from bot.inbox_worker import InboxWorker
from bot.ingest import AckPriority, Ingest
from bot.line.api import LineApi
from bot.line.handler import LineEventHandler
from bot.line.sender import LineSender
from bot.line.webhook import LineWebhook
from bot.line_commands import month_start
from bot.logs import fields
from bot.metrics import Metrics, TimedSlackClient
from bot.notices import NoticeReminders
from bot.ops_alerts import OpsAlerts
from bot.outbox_worker import OutboxWorker
from bot.reminders import ReminderService
from bot.retention import RetentionSweeper
from bot.scheduler import Scheduler
from bot.server import build_app
from bot.slack.desk import SlackDesk
from bot.slack.escalation import EscalationSweeper
from bot.slack.route import slack_session
from bot.slack.sender import SlackSender
from bot.slack.socket import SocketMode
from flows.faq import default_faq
from flows.texts import Texts
from storage import Database
from storage.wards import WardCenterSpec

log = logging.getLogger("madoguchi.runtime")


class _QuietTokenWarning(logging.Filter):
    """Bolt's AsyncApp reads SLACK_BOT_TOKEN from the environment whenever it is set (as the README
    has operators export it) and then warns at every start that, as we pass our own `client` (which
    carries that same token), the token "will be unused". True and harmless: dropped, that one only."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


# The same filter object every time: addFilter() does not add it twice.
_QUIET_TOKEN_WARNING = _QuietTokenWarning()
logging.getLogger("slack_bolt.AsyncApp").addFilter(_QUIET_TOKEN_WARNING)

IDLE_SWEEP_SECONDS = 60.0
SOCKET_CHECK_SECONDS = 60.0
# The nightly backup looks every minute whether today's copy is due (so a restart never skips it).
BACKUP_CHECK_SECONDS = 60.0
RETENTION_SWEEP_SECONDS = 3600.0


class Runtime:
    def __init__(self, settings: Settings, clock: Clock = utc_now, *, settle_memory: bool = False) -> None:
        """`settle_memory`: freeze what starting made out of the garbage collector's sight before the
        first request (`madoguchi serve`; tests start many runtimes in one process and skip it)."""
        self.settings = settings
        self.clock = clock
        self._settle_memory = settle_memory
        self._stack = AsyncExitStack()
        self._runner: web.AppRunner | None = None
        self.db: Database
        self.line: LineApi
        self.inbox: InboxWorker
        self.outbox: OutboxWorker
        self.idle: IdleSweeper
        self.slack: SlackDesk
        self.escalation: EscalationSweeper
        self.alerts: OpsAlerts
        self.retention: RetentionSweeper
        self.reminders: ReminderService
        self.notice_reminders: NoticeReminders
        self.socket: SocketMode | None = None
        self.metrics: Metrics
        self.backups: NightlyBackup

    async def __aenter__(self) -> Runtime:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        assert self._runner is not None and self._runner.addresses
        host, port = self._runner.addresses[0][:2]
        return f"http://{host}:{port}"

    async def start(self) -> None:
        settings = self.settings
        try:
            self.db = await Database.open(settings.database_path, settings.storage.busy_timeout_ms)
            self._stack.push_async_callback(self.db.close)
            async with self.db.transaction() as tx:
                await tx.wards.sync(
                    [WardCenterSpec(w.ward, w.name, w.slack_channel, w.line_group_id) for w in settings.wards]
                )
            self.metrics = Metrics(self.db, self.clock, lambda now: month_start(now, settings))
            self.line = await self._stack.enter_async_context(
                LineApi(settings.line, observe=self.metrics.observe_line)
            )
            policy = RetryPolicy(
                max_attempts=settings.delivery.max_attempts,
                base_delay=settings.delivery.base_delay_seconds,
                max_delay=settings.delivery.max_delay_seconds,
            )
            texts = Texts.load()
            # Read and checked now: a broken faq.toml stops the start instead of failing every message.
            default_faq()
            # The holiday tables load on first use (about 80 ms): now, not in the middle of an event.
            settings.calendar.is_open(self.clock())
            # Through the proxy the environment names for Slack, NO_PROXY included (bot/slack/route.py).
            slack_http = slack_session(settings.slack.api_base_url, timeout=10)
            self._stack.push_async_callback(slack_http.close)
            slack_client: AsyncWebClient = TimedSlackClient(
                token=settings.slack.bot_token,
                base_url=settings.slack.api_base_url,
                timeout=10,
                session=slack_http,
                retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)],
                observe=self.metrics.observe_slack,
            )
            # A reply's attempt and the deliveries' outcomes: small writes, one group commit for all.
            records = WriteGroup(self.db, name="delivery.records", log=log)
            # An announcement is drawn when sent: who stopped it since, and the event as it is then.
            drawn = partial(draw_announcement, settings=settings, texts=texts)
            line_sender = LineSender(self.line, self.db, self.clock, records=records, draw_announcement=drawn)
            senders: dict[str, Sender] = {
                "line": line_sender,
                "slack": SlackSender(slack_client, self.db, settings, texts, self.line, self.clock),
            }
            self.alerts = OpsAlerts(
                self.db, settings, texts, self.clock, on_queued=lambda: self.outbox.wake()
            )
            # Webhook acknowledgements first: handling and delivery start in the gaps between them.
            acks = AckPriority()
            self.outbox = OutboxWorker(
                self.db, self.clock, senders, policy, alerts=self.alerts, priority=acks, records=records
            )
            self.outbox.start()
            self._stack.push_async_callback(self.outbox.stop, settings.server.shutdown_timeout_seconds)
            self.slack = SlackDesk(
                settings, self.db, slack_client, texts, self.clock, on_queued=self.outbox.wake
            )
            self.outbox.on_final.append(self.slack.echo_delivery)
            self.outbox.on_final.append(self.metrics.on_delivery)
            line_handler = LineEventHandler(self.line, self.db, texts, settings, self.clock)
            self.inbox = InboxWorker(
                self.db,
                self.clock,
                {"line": line_handler},
                on_handled=self.outbox.wake,
                alerts=self.alerts,
                priority=acks,
            )
            self.inbox.start()
            self._stack.push_async_callback(self.inbox.stop)
            self.idle = IdleSweeper(self.db, settings, texts, self.clock, on_queued=self.outbox.wake)
            scheduler = Scheduler()
            scheduler.every(IDLE_SWEEP_SECONDS, self.idle.run, "idle-sweep")
            self.escalation = EscalationSweeper(
                self.db, settings, texts, self.clock, self.slack, on_queued=self.outbox.wake
            )
            scheduler.every(IDLE_SWEEP_SECONDS, self.escalation.run, "escalation-sweep")
            self.backups = NightlyBackup(
                settings,
                self.clock,
                on_failed=lambda error: self.alerts.report("backup_failed", error=error),
            )
            scheduler.every(BACKUP_CHECK_SECONDS, self.backups.run, "nightly-backup")
            self.retention = RetentionSweeper(self.db, settings, self.clock, on_queued=self.outbox.wake)
            scheduler.every(RETENTION_SWEEP_SECONDS, self.retention.run, "retention-sweep")
            self.reminders = ReminderService(
                self.db,
                settings,
                texts,
                self.clock,
                line=self.line,
                alerts=self.alerts,
                scheduler=scheduler,
                on_queued=self.outbox.wake,
            )
            self.reminders.start()
            # Each multicast row checks the month's quota first (a notice, a batch sent member by member).
            line_sender.on_quota_short = self.reminders.quota_short
            # Runs after the scheduler stops (pushed earlier), which cancels a sweep of its own under
            # way (rolled back: still due at the next start); this waits for any other still running.
            self._stack.push_async_callback(self.reminders.stop)
            self.notice_reminders = NoticeReminders(
                self.db, settings, texts, self.clock, scheduler=scheduler, on_queued=self.outbox.wake
            )
            self.notice_reminders.start()
            self._stack.push_async_callback(self.notice_reminders.stop)
            # Staff cancelling or moving an event in Slack: registrants told, reminders follow.
            self.slack.events.on_cancel = self.reminders.cancel_event
            self.slack.events.on_reschedule = self.reminders.reschedule_event
            # The announce modal shows the month's quota before staff confirm.
            self.slack.announce.quota = self.line.quota
            scheduler.start()
            self._stack.push_async_callback(scheduler.stop)
            ingest = Ingest(self.db, self.clock, on_stored=self.inbox.wake, priority=acks)
            ingest.start()
            self._stack.push_async_callback(ingest.stop)

            app = build_app(self.db, settings.server.max_body_bytes)
            app.middlewares.append(self.metrics.middleware)
            app.router.add_get("/metrics", self.metrics.handle)
            app.router.add_get("/events.ics", EventsFeed(self.db, settings, self.clock).handle)
            webhook = LineWebhook(
                settings.line.channel_secret,
                ingest,
                settings.server.max_body_bytes,
                settings.server.body_timeout_seconds,
            )
            app.router.add_post("/line/webhook", webhook.handle)
            if settings.slack.mode == "http":
                app.router.add_post("/slack/events", self.slack.handle_http)
            else:
                self.socket = socket = SocketMode(
                    self.slack.app,
                    settings.slack.app_token,
                    slack_client,
                    slack_session(settings.slack.api_base_url),
                    on_down=lambda minutes: self.alerts.report("slack_disconnected", minutes=minutes),
                    down_after_seconds=settings.slack.ops_disconnected_minutes * 60,
                )
                socket.start()
                scheduler.every(SOCKET_CHECK_SECONDS, socket.check, "socket-check")
                self._stack.push_async_callback(socket.stop)
            self._runner = web.AppRunner(
                app,
                access_log=None,
                shutdown_timeout=settings.server.shutdown_timeout_seconds,
                handle_signals=False,
                # Also the deadline for a new connection's first request headers (aiohttp arms it
                # at connect): slow-header clients are dropped instead of held forever.
                keepalive_timeout=settings.server.idle_timeout_seconds,
                # After an early answer (408, 413), the rest of a body is drained this long, not 10 s.
                lingering_time=1.0,
            )
            await self._runner.setup()
            # Cleanup closes the listening socket first, then waits for requests in flight.
            self._stack.push_async_callback(self._runner.cleanup)
            if self._settle_memory:
                _settle_memory()
            await web.TCPSite(self._runner, settings.server.host, settings.server.port).start()
        except BaseException:
            await self._stack.aclose()
            raise
        log.info("server.started", extra=fields(address=self.base_url))

    async def stop(self) -> None:
        await self._stack.aclose()
        log.info("server.stopped")


def _settle_memory() -> None:
    """Put what starting made (modules, the SDKs' classes, settings, the holiday tables: ~200,000
    objects that live as long as the process) out of the garbage collector's sight. Otherwise each
    full collection walks them all with the event loop stopped: 82-101 ms, now and then in the middle
    of a burst of webhooks (docs/performance.md). Done before the server listens. Not collected
    first: that is the same 100 ms, at every start, to free the few hundred unreachable objects that
    starting leaves (measured: 60-384), which are kept instead."""
    gc.freeze()
