"""The demo's world: the bot's Runtime, the fake LINE and Slack platforms, sample data and a movable clock.

Every act of the page goes through the production path: a citizen's tap becomes a LINE webhook signed
with the channel secret, a staff member's click a Slack request signed with the signing secret (HTTP
mode), both posted to the bot's real endpoints; the bot answers through the real SDK clients, which
talk to the fakes. What the page shows is what the fakes recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from bot.clock import utc_now
from bot.config import ConfigError, Settings, load_settings
from bot.demo.sample import CITIZENS, STAFF, programme
from bot.line import richmenu
from bot.logs import fields
from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.fake_slack import MAX_BUTTON_VALUE, MAX_ID, FakeSlack
from bot.sandbox.line_webhook import follow_event, post_webhook, postback_event, text_event
from bot.sandbox.slack_signing import (
    block_action,
    event_callback,
    post_signed,
    slash_command,
    view_submission,
)

log = logging.getLogger("madoguchi.demo")

EXAMPLE_CONFIG = Path(__file__).resolve().parent.parent.parent / "config.example.toml"
MAX_TEXT = 2000  # what one chat input may carry in the demo (LINE's own limit is higher)
MAX_POSTBACK = 300  # LINE's limit for a postback action's data and its displayText
MAX_INPUT = 3000  # Slack's limit for a plain_text_input's max_length


class OffsetClock:
    """Real time plus an offset the page moves forward; the Runtime reads it wherever time matters."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return utc_now() + self.offset

    def advance(self, delta: timedelta) -> None:
        if delta < timedelta():
            raise ValueError("the clock only moves forward")
        self.offset += delta


class _AnySecret(dict[str, str]):
    """Every `${NAME}` in the example configuration resolves to a throwaway demo value."""

    def __contains__(self, key: object) -> bool:
        return True

    def __missing__(self, key: str) -> str:
        prefix = "xoxb-" if "BOT_TOKEN" in key else "xapp-" if "APP_TOKEN" in key else ""
        return f"{prefix}demo-{key.lower().replace('_', '-')}"


class DemoError(Exception):
    """An act the page asked for that cannot be done (unknown user, view, message...)."""


def _within(what: str, text: str, limit: int) -> None:
    """Refuse what the platform's own client would never send: a value past its limit."""
    if len(text) > limit:
        raise DemoError(f"{what} is too long (at most {limit} characters)")


def _input_limits(blocks: list[Any]) -> dict[tuple[str, str], int]:
    """(block_id, action_id) -> max_length of every input a modal shows, as Slack's client enforces it."""
    limits: dict[tuple[str, str], int] = {}
    for block in blocks:
        element = block.get("element") if isinstance(block, dict) and block.get("type") == "input" else None
        if isinstance(element, dict):
            limit = element.get("max_length")
            key = (str(block.get("block_id")), str(element.get("action_id")))
            limits[key] = limit if isinstance(limit, int) else MAX_INPUT
    return limits


# Staff channels the example configuration leaves to the center; the demo shows them.
DEMO_EVENTS_CHANNEL = "C_EVENTS"
DEMO_NOTICES_CHANNEL = "C_NETWORK"


def demo_settings(folder: Path, line_url: str, slack_api_url: str, source: Path = EXAMPLE_CONFIG) -> Settings:
    """The example configuration with demo secrets, a fresh database in `folder`, and both platforms
    pointed at the local fakes (Slack in HTTP mode, so the fake signs requests as Slack does)."""
    if not source.is_file():
        raise ConfigError(f"{source}: file not found (the demo runs from a clone of the repository)")
    base = load_settings(source, environ=_AnySecret())
    return base.model_copy(
        update={
            "server": base.server.model_copy(update={"host": "127.0.0.1", "port": 0}),
            "storage": base.storage.model_copy(update={"path": str(folder / "madoguchi.sqlite3")}),
            "line": base.line.model_copy(update={"api_base_url": line_url, "data_api_base_url": line_url}),
            "slack": base.slack.model_copy(
                update={
                    "mode": "http",
                    "api_base_url": slack_api_url,
                    "staff": [],
                    "events_channel": base.slack.events_channel or DEMO_EVENTS_CHANNEL,
                }
            ),
            "ward_notices": base.ward_notices.model_copy(
                update={"staff_channel": base.ward_notices.staff_channel or DEMO_NOTICES_CHANNEL}
            ),
            # The questionnaire after an event shows once the clock is moved past one.
            "events": base.events.model_copy(
                update={"questionnaire": base.events.questionnaire.model_copy(update={"enabled": True})}
            ),
        }
    )


@dataclass
class _Input:
    """Something a citizen did, placed after the bot messages LINE had accepted by then."""

    after: int
    kind: str
    text: str


@dataclass
class _Notice:
    """A message only one staff member sees: a slash command's answer or a respond() post."""

    user: str
    channel: str
    text: str
    blocks: list[Any] = field(default_factory=list)


class DemoWorld:
    def __init__(self, source: Path = EXAMPLE_CONFIG) -> None:
        self.source = source
        self.clock = OffsetClock()
        self._stack = AsyncExitStack()
        self._folder: Path | None = None
        self.settings: Settings
        self.line: FakeLine
        self.slack: FakeSlack
        self.runtime: Runtime
        self._session: aiohttp.ClientSession
        self._inputs: dict[str, list[_Input]] = {c.user_id: [] for c in CITIZENS}
        self._notices: list[_Notice] = []
        self._view_errors: dict[str, dict[str, str]] = {}
        self._version = 0

    # -- life cycle ------------------------------------------------------------------------

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        self._folder = Path(tempfile.mkdtemp(prefix="madoguchi-demo-"))
        probe = demo_settings(self._folder, "http://127.0.0.1", "http://127.0.0.1/api/", self.source)
        self.line = await self._stack.enter_async_context(
            FakeLine(access_token=probe.line.channel_access_token, quota=10_000)
        )
        self.slack = await self._stack.enter_async_context(FakeSlack(bot_token=probe.slack.bot_token))
        # Slack message times follow the demo clock, so moving it forward shows in the staff view.
        self.slack.wall = lambda: self.clock().timestamp()
        self.settings = demo_settings(self._folder, self.line.base_url, self.slack.api_url, self.source)
        self._session = await self._stack.enter_async_context(aiohttp.ClientSession())
        self.runtime = Runtime(self.settings, clock=self.clock)
        await self.runtime.start()
        self._stack.push_async_callback(self.runtime.stop)
        await self._seed()

    async def stop(self) -> None:
        await self._stack.aclose()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    async def _seed(self) -> None:
        now = self.clock()
        async with self.runtime.db.transaction() as tx:
            for draft in programme(now, self.settings.center.tz):
                await tx.events.upsert(draft, now)
        for person in STAFF:
            self.slack.set_user(person.user_id, person.name, display_name=person.name.split()[0])
        staff_ids = [p.user_id for p in STAFF]
        for channel, _, group in self.channels():
            if group != "wards":
                self.slack.set_members(channel, staff_ids)
        await richmenu.install(self.runtime.line)
        for citizen in CITIZENS:
            self.line.set_profile(citizen.user_id, citizen.name)
            await self._webhook(citizen.user_id, follow_event(citizen.user_id, self._token(citizen.user_id)))
        # The page opens on greeted citizens (the greetings go out through the outbox, as always).
        for _ in range(100):
            if all(self.line.sent_messages(c.user_id) for c in CITIZENS):
                break
            await asyncio.sleep(0.05)
        log.info("demo.seeded", extra=fields(citizens=len(CITIZENS), staff=len(STAFF)))

    # -- what exists -------------------------------------------------------------------------

    def channels(self) -> list[tuple[str, str, str]]:
        """(channel id, label, group) for every channel the configuration names, in sidebar order."""
        slack = self.settings.slack
        found: list[tuple[str, str, str]] = []
        seen: set[str] = set()

        def add(channel: str, label: str, group: str) -> None:
            if channel and channel not in seen:
                seen.add(channel)
                found.append((channel, label, group))

        add(slack.default_channel, "相談（総合）", "cases")
        for category in self.settings.consultation.categories:
            add(self.settings.channel_for(category.id), f"相談（{category.label}）", "cases")
        add(slack.events_channel, "イベント（申込者・アンケート）", "events")
        add(self.settings.notices_channel, "ネットワーク会議（回答表）", "events")
        add(slack.escalation_channel, "エスカレーション", "alerts")
        add(slack.ops_channel, "運用アラート", "alerts")
        for ward in self.settings.wards:
            add(ward.slack_channel, ward.name, "wards")
        return found

    def _citizen(self, user: str) -> str:
        if user not in self._inputs:
            raise DemoError(f"unknown citizen {user!r}")
        return user

    def _staff(self, user: str) -> str:
        if user not in {p.user_id for p in STAFF}:
            raise DemoError(f"unknown staff member {user!r}")
        return user

    # -- LINE: a citizen taps and types -------------------------------------------------------

    def _token(self, user: str) -> str:
        return self.line.issue_reply_token(user)

    async def _webhook(self, user: str, event: dict[str, Any]) -> None:
        # The webhook's timestamp is when LINE issued the reply token: on the demo clock.
        event["timestamp"] = int(self.clock().timestamp() * 1000)
        status, text = await post_webhook(
            f"{self.runtime.base_url}/line/webhook",
            self.settings.line.channel_secret,
            [event],
            session=self._session,
        )
        if status != 200:
            raise DemoError(f"the bot answered the LINE webhook with {status}: {text[:200]}")
        self._version += 1

    def _record(self, user: str, kind: str, text: str) -> None:
        self._inputs[user].append(_Input(len(self.line.sent_messages()), kind, text))

    async def citizen_text(self, user: str, text: str) -> None:
        user = self._citizen(user)
        text = text.strip()
        if not text or len(text) > MAX_TEXT:
            raise DemoError("empty or too long")
        self._record(user, "text", text)
        await self._webhook(user, text_event(user, text, self._token(user)))

    async def citizen_postback(self, user: str, data: str, display: str | None) -> None:
        user = self._citizen(user)
        if not data:
            raise DemoError("empty postback")
        _within("postback data", data, MAX_POSTBACK)
        _within("displayText", display or "", MAX_POSTBACK)
        if display:
            # LINE shows a postback's displayText in the chat as if the citizen had typed it.
            self._record(user, "text", display)
        await self._webhook(user, postback_event(user, data, self._token(user)))

    # -- Slack: a staff member clicks, submits, writes ---------------------------------------

    async def _slack(self, body: tuple[bytes, str]) -> str:
        status, text = await post_signed(
            f"{self.runtime.base_url}/slack/events",
            self.settings.slack.signing_secret,
            body,
            session=self._session,
        )
        self._version += 1
        if status != 200:
            raise DemoError(f"the bot answered Slack's request with {status}: {text[:200]}")
        return text

    async def staff_action(
        self,
        user: str,
        action_id: str,
        value: str,
        *,
        channel: str | None = None,
        ts: str | None = None,
        view_id: str | None = None,
        block_id: str | None = None,
        text: str = "button",
    ) -> None:
        user = self._staff(user)
        _within("action_id", action_id, MAX_ID)
        _within("block_id", block_id or "", MAX_ID)
        _within("value", value, MAX_BUTTON_VALUE)
        _within("text", text, MAX_BUTTON_VALUE)
        trigger = self.slack.issue_trigger_id(user)
        if view_id is not None:
            view = self.slack.open_views.get(view_id) or next(
                (v for v in self.slack.home_views.values() if v["id"] == view_id), None
            )
            if view is None:
                raise DemoError("that view is no longer open")
            body = block_action(
                user, action_id, value, trigger_id=trigger, view=view, block_id=block_id, text=text
            )
        else:
            message = self.slack.message(channel or "", ts or "")
            if message is None:
                raise DemoError("no such message")
            body = block_action(
                user,
                action_id,
                value,
                str(channel),
                ts,
                trigger_id=trigger,
                block_id=block_id,
                message=message,
                response_url=self.slack.response_url(),
                text=text,
            )
        await self._slack(body)

    async def submit_view(self, user: str, view_id: str, values: dict[str, dict[str, str]]) -> None:
        user = self._staff(user)
        view = self.slack.open_views.get(view_id)
        if view is None:
            raise DemoError("that view is no longer open")
        limits = _input_limits(view.get("blocks") or [])
        for block_id, actions in values.items():
            for action_id, text in actions.items():
                _within(f"{block_id}.{action_id}", text, limits.get((block_id, action_id), MAX_INPUT))
        title = (view.get("title") or {}).get("text", "madoguchi")
        body = view_submission(
            user,
            str(view.get("callback_id", "")),
            values,
            str(view.get("private_metadata", "")),
            view_id,
            trigger_id=self.slack.issue_trigger_id(user),
            blocks=view.get("blocks") or [],
            title=title,
        )
        answer = await self._slack(body)
        outcome = self.slack.answer_view_submission(view_id, answer)
        errors = outcome.get("errors")
        if isinstance(errors, dict):
            self._view_errors[view_id] = {str(k): str(v) for k, v in errors.items()}
        else:
            self._view_errors.pop(view_id, None)
        if not outcome.get("ok"):
            raise DemoError(f"Slack refused the bot's answer: {outcome.get('error')}")

    def close_view(self, user: str, view_id: str) -> None:
        self._staff(user)
        self.slack.open_views.pop(view_id, None)
        self._view_errors.pop(view_id, None)
        self._version += 1

    async def staff_message(self, user: str, channel: str, text: str, thread_ts: str | None) -> None:
        user = self._staff(user)
        text = text.strip()
        if not text or len(text) > MAX_TEXT:
            raise DemoError("empty or too long")
        try:
            event = self.slack.user_message_event(channel, user, text, thread_ts or None)
        except Exception as exc:  # the fake refuses a thread it does not know, as Slack would
            raise DemoError(str(exc)) from None
        await self._slack(event_callback(event, team_id=self.slack.team_id))

    async def staff_command(self, user: str, channel: str, text: str) -> None:
        user = self._staff(user)
        _within("the command", text, MAX_TEXT)
        body = slash_command(
            "/madoguchi",
            text.strip(),
            user,
            channel,
            self.slack.issue_trigger_id(user),
            response_url=self.slack.response_url("commands"),
        )
        answer = await self._slack(body)
        shown = f"/madoguchi {text.strip()}".strip()
        self._notices.append(_Notice(user, channel, f"`{shown}`"))
        if answer.strip():
            # Bolt answers an ack with text only as plain text, with blocks as JSON.
            text, blocks = answer, list[Any]()
            with contextlib.suppress(ValueError):
                payload = json.loads(answer)
                if isinstance(payload, dict):
                    text = str(payload.get("text", ""))
                    given = payload.get("blocks")
                    blocks = given if isinstance(given, list) else []
            self._notices.append(_Notice(user, channel, text, blocks))

    async def open_home(self, user: str) -> None:
        user = self._staff(user)
        event = {
            "type": "app_home_opened",
            "user": user,
            "channel": f"D_{user}",
            "tab": "home",
            "event_ts": f"{self.clock().timestamp():.6f}",
        }
        await self._slack(event_callback(event, team_id=self.slack.team_id))

    # -- time -----------------------------------------------------------------------------

    async def advance(self, minutes: int) -> dict[str, int]:
        """Move the clock forward, then run the sweeps at once (they would run within a minute anyway)."""
        if not 0 < minutes <= 60 * 24 * 31:
            raise DemoError("minutes out of range")
        self.clock.advance(timedelta(minutes=minutes))
        nudged = await self.runtime.idle.run()
        escalated = await self.runtime.escalation.run()
        self._version += 1
        return {"nudged": nudged, "escalated": escalated}

    # -- what the page shows ----------------------------------------------------------------

    def rich_menu_image(self) -> tuple[bytes, str] | None:
        menu = self.line.rich_menus.get(self.line.default_rich_menu or "")
        if menu is None or menu.image is None:
            return None
        return menu.image, menu.image_type or "image/png"

    def state(self) -> dict[str, Any]:
        return {
            "now": self.clock().isoformat(),
            "offset_minutes": int(self.clock.offset.total_seconds() // 60),
            "timezone": self.settings.center.timezone,
            "center": self.settings.center.name,
            "reply_prefix": self.settings.slack.reply_prefix,
            "line": self._line_state(),
            "slack": self._slack_state(),
        }

    def _line_state(self) -> dict[str, Any]:
        sent = list(enumerate(self.line.sent_messages()))
        menu = self.line.rich_menus.get(self.line.default_rich_menu or "")
        citizens = []
        for citizen in CITIZENS:
            chat: list[dict[str, Any]] = []
            inputs = iter(self._inputs[citizen.user_id])
            pending = next(inputs, None)
            for index, message in _to(sent, citizen.user_id):
                while pending is not None and pending.after <= index:
                    chat.append({"from": "user", "type": pending.kind, "text": pending.text})
                    pending = next(inputs, None)
                chat.append({"from": "bot", "via": message.kind, "message": message.message})
            while pending is not None:
                chat.append({"from": "user", "type": pending.kind, "text": pending.text})
                pending = next(inputs, None)
            citizens.append({"id": citizen.user_id, "name": citizen.name, "note": citizen.note, "chat": chat})
        return {
            "citizens": citizens,
            "rich_menu": None if menu is None else {"id": menu.rich_menu_id, **menu.body},
        }

    def _slack_state(self) -> dict[str, Any]:
        slack = self.slack
        open_views = []
        for view_id, view in slack.open_views.items():
            owner = next((e.user_id for e in slack.views if e.view_id == view_id), None)
            open_views.append({"user": owner, "view": view, "errors": self._view_errors.get(view_id, {})})
        channels = [{"id": c, "label": label, "group": group} for c, label, group in self.channels()]
        known = {c["id"] for c in channels}
        for message in slack.messages:
            if message["channel"] not in known:
                known.add(message["channel"])
                channels.append({"id": message["channel"], "label": message["channel"], "group": "other"})
        return {
            "team": slack.team_domain,
            "staff": [{"id": p.user_id, "name": p.name, "note": p.note} for p in STAFF],
            "users": {uid: u["real_name"] for uid, u in slack.users.items()},
            "channels": channels,
            "messages": [_public(m) for m in slack.messages],
            "ephemerals": [
                {
                    "user": e.get("to_user"),
                    "channel": e["channel"],
                    "text": e.get("text", ""),
                    "blocks": e.get("blocks", []),
                    "ts": e.get("ts"),
                    "thread_ts": e.get("thread_ts"),
                }
                for e in slack.ephemerals
            ],
            "notices": [
                {"user": n.user, "channel": n.channel, "text": n.text, "blocks": n.blocks}
                for n in self._notices
            ]
            + [
                {"user": None, "channel": None, "text": str(p.get("text", "")), "blocks": p.get("blocks", [])}
                for _, p in slack.webhook_posts
            ],
            "views": open_views,
            "home": dict(slack.home_views),
        }


def _to(sent: list[tuple[int, Any]], user: str) -> Iterator[tuple[int, Any]]:
    for index, message in sent:
        if message.to == user or (isinstance(message.to, list) and user in message.to):
            yield index, message


def _public(message: dict[str, Any]) -> dict[str, Any]:
    keep = ("channel", "user", "bot_id", "text", "ts", "thread_ts", "blocks", "reply_count", "reactions")
    shown = {k: message[k] for k in keep if message.get(k) is not None}
    if message.get("edited"):
        shown["edited"] = True
    return shown
