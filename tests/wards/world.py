"""The center and its 18 ward centers, running: the bot in this process with an injected clock, the fake
LINE (each ward's group) and the fake Slack (each ward's channel, the staff channel) over HTTP, every
request signed as the platforms sign them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.fake_slack import FakeSlack, ViewEvent
from bot.sandbox.line_webhook import postback_event
from bot.sandbox.slack_signing import block_action, post_signed, slash_command, view_submission
from storage.notices import Notice, NoticeRecipient
from tests.harness import SLACK_SIGNING_SECRET, post_events, settings_for, wait_for

TOKYO = ZoneInfo("Asia/Tokyo")
STAFF = "U_STAFF"
STAFF_CHANNEL = "C_STAFF"
WARDS = [
    "鶴見区",
    "神奈川区",
    "西区",
    "中区",
    "南区",
    "港南区",
    "保土ケ谷区",
    "旭区",
    "磯子区",
    "金沢区",
    "港北区",
    "緑区",
    "青葉区",
    "都筑区",
    "戸塚区",
    "栄区",
    "泉区",
    "瀬谷区",
]


def kind_of(index: int) -> str:
    """Mixed channels: Slack only, LINE only, both, in turn (6 wards each)."""
    return ("slack", "line", "both")[index % 3]


def slack_channel(index: int) -> str | None:
    return f"C_WARD_{index:02d}" if kind_of(index) in ("slack", "both") else None


def line_group(index: int) -> str | None:
    return f"C{index + 1:032x}" if kind_of(index) in ("line", "both") else None


def ward_member(index: int) -> str:
    """A person of the ward center (in a Slack Connect channel: not the center's staff)."""
    return f"U_WARD_{index:02d}"


def line_member(index: int) -> str:
    return f"U{index + 1:032x}"


def config(extra: str = "") -> str:
    wards = ""
    for index, ward in enumerate(WARDS):
        wards += f'\n[[wards]]\nward = "{ward}"\nname = "{ward}民活動支援センター"\n'
        if slack_channel(index):
            wards += f'slack_channel = "{slack_channel(index)}"\n'
        if line_group(index):
            wards += f'line_group_id = "{line_group(index)}"\n'
    return f'\n[ward_notices]\nstaff_channel = "{STAFF_CHANNEL}"\nremind_before = "2d"\n{extra}{wards}'


class Clock:
    """The bot's time: now, frozen, moved by the test (no test sleeps for a reminder)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now


def typed(moment: datetime) -> str:
    """A time as staff type it: 2026-12-01 14:00 in Tokyo."""
    return moment.astimezone(TOKYO).strftime("%Y-%m-%d %H:%M")


@dataclass
class World:
    bot: Runtime
    line: FakeLine
    slack: FakeSlack
    clock: Clock
    tmp_path: Path

    @property
    def url(self) -> str:
        return f"{self.bot.base_url}/slack/events"

    async def post(self, body: tuple[bytes, str], **kwargs: Any) -> tuple[int, str]:
        return await post_signed(self.url, SLACK_SIGNING_SECRET, body, **kwargs)

    def form(self, **changes: str) -> dict[str, Any]:
        meeting = self.clock.now + timedelta(days=10)
        values = {
            "title": "第3回 区民活動支援センター ネットワーク会議",
            "at": typed(meeting),
            "deadline": typed(meeting - timedelta(days=3)),
            "venue": "市民協働推進センター 会議室A",
            "url": "https://meet.example.org/network?id=3&x=1",
            "agenda": "1. 各区の活動報告\n2. 市民活動フェスについて",
            "materials": "https://example.org/materials/3.pdf",
            **changes,
        }
        return {name: {"value": {"type": "plain_text_input", "value": text}} for name, text in values.items()}

    async def opened(self) -> ViewEvent:
        return [v for v in self.slack.views if v.action == "open"][-1]

    async def submit(self, view: ViewEvent, values: dict[str, Any], user: str = STAFF) -> dict[str, Any]:
        body = view_submission(
            user, str(view.view["callback_id"]), values, str(view.view["private_metadata"]), view.view_id
        )
        status, text = await self.post(body)
        assert status == 200
        return self.slack.answer_view_submission(view.view_id, text)

    async def send_notice(self, **changes: str) -> Notice:
        trigger = self.slack.issue_trigger_id(STAFF)
        status, _ = await self.post(slash_command("/madoguchi", "notice", STAFF, STAFF_CHANNEL, trigger))
        assert status == 200
        answer = await self.submit(await self.opened(), self.form(**changes))
        assert answer["ok"] and "errors" not in answer, answer
        notices = await self.bot.db.read.notices.listing(self.clock.now - timedelta(days=1))
        await self.settled()
        return max(notices, key=lambda n: n.id)

    async def settled(self) -> None:
        """Nothing left in the outbox to deliver."""

        async def idle() -> bool:
            return not await self.bot.db.read.outbox.due(
                self.clock() + timedelta(days=400), ["line", "slack"]
            )

        await wait_for(idle)

    async def recipient(self, notice: Notice, index: int) -> NoticeRecipient:
        ward = await self.bot.db.read.wards.by_ward(WARDS[index])
        assert ward is not None
        found = await self.bot.db.read.notices.recipient(notice.id, ward.id)
        assert found is not None
        return found

    async def ward_id(self, index: int) -> int:
        ward = await self.bot.db.read.wards.by_ward(WARDS[index])
        assert ward is not None
        return ward.id

    # -- answering on Slack and LINE ------------------------------------------------------------------

    async def slack_body(
        self,
        notice: Notice,
        index: int,
        answer: str,
        *,
        count: int | None = None,
        channel: str | None = None,
        value_ward: int | None = None,
        message_ts: str | None = None,
    ) -> tuple[bytes, str]:
        """A press on ward `index`'s copy (or, with `channel`, on a copy elsewhere; with `value_ward`, a
        value naming another ward)."""
        recipient = await self.recipient(notice, index)
        ward_id = await self.ward_id(value_ward if value_ward is not None else index)
        value = f"notice:{notice.id}:{ward_id}:{answer}" + (f":{count}" if count else "")
        where = channel or recipient.slack_channel
        assert where is not None
        ts = message_ts or recipient.slack_ts
        if count is not None:
            return block_action(
                ward_member(index), "notice_attendees", value, where, ts, action_type="static_select"
            )
        return block_action(ward_member(index), f"notice_answer_{answer}", value, where, ts)

    async def press(self, notice: Notice, index: int, answer: str, **kwargs: Any) -> None:
        status, _ = await self.post(await self.slack_body(notice, index, answer, **kwargs))
        assert status == 200
        await self.settled()

    async def tap(
        self, notice: Notice, index: int, answer: str, *, count: int | None = None, group: str | None = None,
        value_ward: int | None = None, event: dict[str, Any] | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """A postback in ward `index`'s LINE group (or another `group`); returns the event posted."""
        where = group or line_group(index)
        assert where is not None
        if event is None:
            ward_id = await self.ward_id(value_ward if value_ward is not None else index)
            data = f"notice:{notice.id}:{ward_id}:{answer}" + (f":{count}" if count else "")
            event = postback_event(
                line_member(index), data, self.line.issue_reply_token(where), group_id=where
            )
            # Tapped now on the bot's clock: the deadline is checked against the tap's timestamp.
            event["timestamp"] = int(self.clock.now.timestamp() * 1000)
        status, _ = await post_events(self.bot.base_url, [event])
        assert status == 200

        async def handled() -> bool:
            items = await self.bot.db.read.inbox.for_key(f"line:{where}")
            return any(i.event_id == event["webhookEventId"] and i.status == "done" for i in items)

        await wait_for(handled)
        await self.settled()
        return event

    # -- what people see ------------------------------------------------------------------------------

    def sheet_text(self) -> str:
        """The answer sheet as staff see it now: the latest chat.update in the staff channel (or the post)."""
        updates = [
            c for c in self.slack.find_calls("chat.update") if c.params.get("channel") == STAFF_CHANNEL
        ]
        if updates:
            return str(updates[-1].params["text"])
        [sheet] = self.slack.messages_in(STAFF_CHANNEL)
        return str(sheet["text"])

    def copy(self, index: int) -> dict[str, Any]:
        """Ward `index`'s copy in its Slack channel (the first message there)."""
        channel = slack_channel(index)
        assert channel is not None
        return self.slack.messages_in(channel)[0]

    def copy_text(self, index: int) -> str:
        return json.dumps(self.copy(index)["blocks"], ensure_ascii=False)

    def group_messages(self, index: int) -> list[dict[str, Any]]:
        group = line_group(index)
        assert group is not None
        return [m.message for m in self.line.sent_messages(group)]

    def ephemerals(self, index: int) -> list[str]:
        return [str(e["text"]) for e in self.slack.ephemerals if e.get("to_user") == ward_member(index)]


@asynccontextmanager
async def world(tmp_path: Path, extra: str = "", *, join_groups: bool = True) -> AsyncIterator[World]:
    clock = Clock()
    async with FakeLine(access_token="test-access-token") as line, FakeSlack() as slack:
        if join_groups:
            for index, ward in enumerate(WARDS):
                group = line_group(index)
                if group is not None:
                    line.set_group(group, f"{ward}民活動支援センター")
        settings = settings_for(
            tmp_path, line.base_url, config(extra), slack_api_url=slack.api_url, slack_staff=(STAFF,)
        )
        async with Runtime(settings, clock) as bot:
            yield World(bot, line, slack, clock, tmp_path)
