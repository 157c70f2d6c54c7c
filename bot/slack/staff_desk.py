"""What every staff desk in Slack (events, notices, announcements) works with, taken in one place."""

from __future__ import annotations

from collections.abc import Callable

from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock
from bot.config import Settings
from bot.slack.staff_check import StaffCheck
from flows.texts import Texts
from storage import Database


class StaffDesk:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        client: AsyncWebClient,
        texts: Texts,
        clock: Clock,
        staff: StaffCheck,
        on_queued: Callable[[], None],
    ) -> None:
        self._settings = settings
        self._db = db
        self._client = client
        self._texts = texts
        self._clock = clock
        self._staff = staff
        self._on_queued = on_queued  # wakes the outbox after rows were queued
