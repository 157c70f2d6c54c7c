"""docs/conversations.md: conversations as a citizen sees them on LINE, from the real bot.

Each transcript runs the whole bot in this process (`Runtime`, a fresh database, a fixed clock) and
drives it as LINE does: signed webhooks in, the real SDK out to the fake LINE platform. What the
fake LINE accepted is what the citizen reads, so the document cannot drift from the code:
tests/test_conversations_doc.py regenerates it and fails when the file differs.

    .venv/bin/python -m tests.transcripts          # rewrite docs/conversations.md
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import tomllib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.line_webhook import follow_event, postback_event, text_event
from tests.harness import LINE_TOKEN, ROOT, event_answered, post_events, settings_for, wait_for

DOC = ROOT / "docs" / "conversations.md"
COMMAND = ".venv/bin/python -m tests.transcripts"
USER = "U_TRANSCRIPT"
TOKYO = ZoneInfo("Asia/Tokyo")
# A citizen's text longer than this is shown shortened, with its length.
SHOWN_INPUT = 40
INDENT = "   "
CITIZEN, BOT = "👤 ", "🤖 "


def center_settings() -> str:
    """The [center] section of config.example.toml (name, contact details), as the shipped example."""
    center = tomllib.loads((ROOT / "config.example.toml").read_text(encoding="utf-8"))["center"]
    lines = [f"{key} = {json.dumps(value, ensure_ascii=False)}" for key, value in center.items()]
    return "[center]\n" + "\n".join(lines) + "\n"


@dataclass
class Chat:
    """One citizen on LINE: taps and types, one event at a time, and writes down both sides.

    An event is answered once its inbox row is done and every outgoing row of the citizen has been
    accepted by the fake LINE. A tap names a button the bot offered in its last answer (by the
    button's postback data), and is written down with the label the citizen saw."""

    bot: Runtime
    line: FakeLine
    lines: list[str] = field(default_factory=list)
    offered: dict[str, str] = field(default_factory=dict)

    async def _send(self, event: dict[str, Any]) -> None:
        before = len(self.line.sent_messages(USER))
        status, body = await post_events(self.bot.base_url, [event])
        assert status == 200, (status, body)
        await wait_for(lambda: self._answered(event))
        answer = [m.message for m in self.line.sent_messages(USER)[before:]]
        assert answer, f"no answer to {event}"
        self.offered = {}
        for message in answer:
            self.lines.extend(self._bot_lines(message))

    async def _answered(self, event: dict[str, Any]) -> bool:
        return await event_answered(self.bot.db.read, USER, event)

    def _said(self, text: str) -> None:
        self.lines += ["", CITIZEN + text]

    async def follow(self) -> None:
        self._said("（友だち追加）")
        await self._send(follow_event(USER, reply_token=self.line.issue_reply_token(USER)))

    async def type(self, text: str) -> None:
        shown = text if len(text) <= SHOWN_INPUT else f"{text[:20]}…（{len(text)}文字）"
        self._said(shown)
        await self._send(text_event(USER, text, reply_token=self.line.issue_reply_token(USER)))

    async def tap(self, data: str) -> None:
        assert data in self.offered, f"{data!r} was not offered: {self.offered}"
        self._said(f"［{self.offered[data]}］をタップ")
        await self._send(postback_event(USER, data, reply_token=self.line.issue_reply_token(USER)))

    def _buttons(self, actions: list[dict[str, Any]]) -> str:
        """Buttons as the citizen sees them, ［label］; remembered so that a tap can name one."""
        for action in actions:
            self.offered[action["data"]] = action.get("displayText") or action["label"]
        return "".join(f"［{a['label']}］" for a in actions)

    def _bot_lines(self, message: dict[str, Any]) -> list[str]:
        kind = message["type"]
        if kind == "text":
            body = message["text"].split("\n")
        elif kind == "template":
            template = message["template"]
            body = [*template["text"].split("\n"), self._buttons(template["actions"])]
        elif kind == "flex":
            body = _flex_lines(message["contents"], self)
        else:
            body = [f"（{kind}）"]
        items = message.get("quickReply", {}).get("items", [])
        if items:
            body.append(self._buttons([i["action"] for i in items]))
        return [((BOT if n == 0 else INDENT) + line).rstrip() for n, line in enumerate(body)]


def _flex_lines(contents: dict[str, Any], chat: Chat) -> list[str]:
    """The texts of a Flex bubble or carousel, its buttons as ［label］."""
    lines: list[str] = []
    actions: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "text":
                lines.extend(str(node.get("text", "")).split("\n"))
            elif node.get("type") == "button":
                actions.append(node["action"])
                return
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(contents)
    if actions:
        lines.append(chat._buttons(actions))
    return lines


# -- the conversations -------------------------------------------------------------------------

# Monday 30 November 2026, 10:00: the center is open. (Its answer is due three business days on.)
OPEN = datetime(2026, 11, 30, 10, 0, tzinfo=TOKYO)
# Saturday 21 November 2026, 14:00: closed until Tuesday (Monday 23 November is 勤労感謝の日).
WEEKEND = datetime(2026, 11, 21, 14, 0, tzinfo=TOKYO)
BODY = "川沿いの清掃活動を、区と一緒にできないかご相談したいです。"
MORE = "月に一度、20人ほどで活動しています。"


async def by_buttons(chat: Chat) -> None:
    """Every question with options answered by a tap; names, the phone and the text typed."""
    await chat.follow()
    await chat.tap("consult")
    await chat.tap("yes")
    await chat.tap("collaboration")
    await chat.tap("NPO法人・市民活動団体")
    await chat.type("みずべの会")
    await chat.type("山田 花子")
    await chat.type("やまだ はなこ")
    await chat.tap("phone")
    await chat.type("045-123-4567")
    await chat.type(BODY)
    await chat.type(MORE)
    await chat.tap("flow:done")
    await chat.tap("flow:skip")
    await chat.tap("flow:confirm")


async def by_typing(chat: Chat) -> None:
    """The same intake with no buttons at all (LINE for PC shows none): numbers and words."""
    await chat.type("相談する")
    await chat.type("1")
    await chat.type("協働")
    await chat.type("協働の相談")
    await chat.type("NPO")
    await chat.type("みずべの会")
    await chat.type("山田 花子")
    await chat.type("ﾔﾏﾀﾞ ﾊﾅｺ")
    await chat.type("でんわ")
    await chat.type("０４５－１２３－４５６７")
    await chat.type(BODY)
    await chat.type(MORE)
    await chat.type("以上")
    await chat.type("なし")
    await chat.type("2")
    await chat.type("面談の希望日時")
    await chat.type("12月5日の午後")
    await chat.type("送信")


async def _to_the_text(chat: Chat) -> None:
    await chat.type("相談する")
    await chat.tap("yes")
    await chat.tap("general")
    await chat.tap("個人")
    await chat.type("山田 花子")
    await chat.type("やまだ はなこ")
    await chat.tap("line")


async def cancellation(chat: Chat) -> None:
    """キャンセル asks first: いいえ keeps everything, はい deletes it."""
    await _to_the_text(chat)
    await chat.type("NPOを立ち上げたいです。")
    await chat.tap("flow:cancel")
    await chat.tap("flow:cancel:no")
    await chat.tap("flow:cancel")
    await chat.tap("flow:cancel:yes")


async def over_long(chat: Chat) -> None:
    """Over 2,000 characters in all: the counts are told, the parts kept, the question not asked again."""
    await _to_the_text(chat)
    sentence = "私たちは毎月、川沿いの清掃活動をしています。"
    await chat.type((sentence * 100)[:2100])
    await chat.type((sentence * 100)[:1200])
    await chat.type((sentence * 100)[:700])
    await chat.type((sentence * 100)[:300])
    await chat.type((sentence * 100)[:100])
    await chat.tap("flow:done")


async def out_of_hours(chat: Chat) -> None:
    """Started on a Saturday before a public holiday: the notice comes first, with the weekday."""
    await chat.type("相談する")
    await chat.tap("yes")
    await chat.tap("general")
    await chat.tap("個人")
    await chat.type("山田 花子")
    await chat.type("やまだ はなこ")
    await chat.tap("line")
    await chat.type("NPOを立ち上げたいので、手続きを教えてください。")
    await chat.tap("flow:done")
    await chat.tap("flow:skip")
    await chat.tap("flow:confirm")


@dataclass(frozen=True)
class Transcript:
    title: str
    about: str
    now: datetime
    script: Callable[[Chat], Awaitable[None]]


TRANSCRIPTS = (
    Transcript(
        "An intake by buttons",
        "From adding the account as a friend, every question with options answered by tapping its button "
        "(a quick reply); names, the phone number and the text typed. An organisation, answered by phone.",
        OPEN,
        by_buttons,
    ),
    Transcript(
        "The same intake by typing only",
        "No button tapped at all, as on LINE for PC/Mac (which shows no quick replies): numbers and words. "
        "協働 fits two categories, so the question is asked again rather than guessed; the citizen edits "
        "one answer from the summary before sending.",
        OPEN,
        by_typing,
    ),
    Transcript(
        "A cancellation",
        "キャンセル while the consultation text is being written asks first: いいえ keeps everything typed "
        "so far, はい deletes it.",
        OPEN,
        cancellation,
    ),
    Transcript(
        "An over-long consultation text",
        "At most 2,000 characters in all. A message that would go over is not taken and the citizen is told "
        "the counts; the parts already sent are kept and the question is not asked again.",
        OPEN,
        over_long,
    ),
    Transcript(
        "Out of hours",
        "Started on a Saturday afternoon before a public holiday (Monday 23 November, 勤労感謝の日): the "
        "notice comes first, with the weekday of the next opening, and the answer date counts from then.",
        WEEKEND,
        out_of_hours,
    ),
)


async def record(transcript: Transcript, folder: Path) -> list[str]:
    """One transcript: a fresh bot with the shipped texts and the example [center], at a fixed time."""
    async with FakeLine(access_token=LINE_TOKEN) as line, FakeSlack() as slack:
        line.set_profile(USER, "山田 花子")
        settings = settings_for(folder, line.base_url, center_settings(), slack_api_url=slack.api_url)
        async with Runtime(settings, clock=lambda: transcript.now) as bot:
            chat = Chat(bot, line)
            await transcript.script(chat)
            return chat.lines


def _when(moment: datetime) -> str:
    weekday = "月火水木金土日"[moment.weekday()]
    return f"{moment.year}年{moment.month}月{moment.day}日({weekday}) {moment.hour}:{moment.minute:02d}"


HEADER = f"""# Conversations as a citizen sees them

<!-- Generated by `{COMMAND}`; do not edit by hand. -->

These transcripts are written by the real bot: each runs the whole service on a fresh database with
a fixed clock, receives signed LINE webhooks, and answers through the real LINE SDK to the fake LINE
platform; what LINE accepted is printed here. The wording comes from
[`flows/texts/ja.toml`](../flows/texts/ja.toml), the center's details from the `[center]` example in
[`config.example.toml`](../config.example.toml), the categories are the shipped defaults. The flows
themselves are described in [intake.md](intake.md).

Regenerate after changing a flow or its wording (`tests/test_conversations_doc.py` fails until then):

```sh
{COMMAND}
```

How to read them: 👤 is the citizen, 🤖 the center's account. ［ラベル］をタップ is a button the citizen
tapped (LINE shows its label in the chat); anything else after 👤 was typed (a long text is shortened
here, with its length). Under a message of the account, ［…］［…］ are the buttons offered with it
(quick replies, which vanish once the citizen types and do not show on LINE for PC/Mac); every
question also lists its options with numbers, so it can be answered by typing.
"""


async def render() -> str:
    parts = [HEADER]
    with tempfile.TemporaryDirectory(prefix="madoguchi-transcripts-") as tmp:
        for number, transcript in enumerate(TRANSCRIPTS, 1):
            folder = Path(tmp) / str(number)
            folder.mkdir()
            lines = await record(transcript, folder)
            parts.append(
                f"\n## {number}. {transcript.title}\n\n{transcript.about}\n\n"
                f"Clock: {_when(transcript.now)}\n\n```text\n" + "\n".join(lines).strip("\n") + "\n```\n"
            )
    return "".join(parts)


def main() -> int:
    text = asyncio.run(render())
    changed = not DOC.exists() or DOC.read_text(encoding="utf-8") != text
    DOC.write_text(text, encoding="utf-8")
    print(f"{DOC.relative_to(ROOT)}: {'written' if changed else 'unchanged'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
