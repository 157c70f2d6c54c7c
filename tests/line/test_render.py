"""Neutral messages rendered for LINE and pushed through the real SDK to the fake: LINE's limits are
kept without losing an answer (a long confirm, a long carousel, a long text)."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
from linebot.v3.messaging import (
    AsyncApiClient,
    AsyncMessagingApi,
    Configuration,
    Message,
    PostbackAction,
    PushMessageRequest,
    QuickReply,
    QuickReplyItem,
    TextMessage,
)

from bot.line.render import render, render_batches, split_text
from bot.sandbox.fake_line import FakeLine
from flows.messages import Card, Carousel, Choice, Confirm, Outgoing, Text
from tests.line.test_sdk_requests import CASES

USER = "U_RENDER"


@pytest.fixture
async def line() -> AsyncIterator[FakeLine]:
    async with FakeLine() as fake:
        yield fake


async def push_all(line: FakeLine, messages: list[Outgoing]) -> list[dict[str, Any]]:
    """Every request render_batches makes, pushed as the outbox pushes; what LINE accepted."""
    config = Configuration(host=line.base_url, access_token=line.access_token)
    async with AsyncApiClient(config) as client:
        api = AsyncMessagingApi(client)
        for batch in render_batches(messages):
            await api.push_message(PushMessageRequest.from_dict({"to": USER, "messages": batch}))
    return [m.message for m in line.sent_messages(USER)]


async def test_a_confirm_over_240_characters_is_a_text_with_both_answers(line: FakeLine) -> None:
    question = "ご相談の内容を確認します。" + "あ" * 300 + "\nこの内容で送信しますか？"
    sent = await push_all(line, [Confirm(question, Choice("送信する", "yes"), Choice("修正する", "no"))])
    assert "".join(m["text"] for m in sent) == question
    items = sent[-1]["quickReply"]["items"]
    assert [(i["action"]["label"], i["action"]["data"]) for i in items] == [
        ("送信する", "yes"),
        ("修正する", "no"),
    ]


async def test_a_short_confirm_stays_a_confirm_template(line: FakeLine) -> None:
    [sent] = await push_all(line, [Confirm("送信しますか？", Choice("はい", "yes"), Choice("いいえ", "no"))])
    assert sent["type"] == "template" and sent["template"]["text"] == "送信しますか？"


async def test_a_carousel_of_thirty_cards_arrives_whole_in_carousels_of_twelve(line: FakeLine) -> None:
    cards = tuple(Card(f"イベント {n}", buttons=(Choice("申し込む", f"event:{n}"),)) for n in range(30))
    sent = await push_all(line, [Carousel("イベント一覧" * 100, cards)])
    assert [len(m["contents"]["contents"]) for m in sent] == [12, 12, 6]
    titles = [b["body"]["contents"][0]["text"] for m in sent for b in m["contents"]["contents"]]
    assert titles == [f"イベント {n}" for n in range(30)]
    assert all(len(m["altText"]) <= 400 for m in sent)


async def test_a_text_over_5000_utf16_units_is_split_whole(line: FakeLine) -> None:
    text = ("川沿いの清掃🌊" * 400 + "\n") * 3  # 🌊 is two UTF-16 units
    sent = await push_all(line, [Text(text, choices=(Choice("入力完了", "flow:done"),))])
    assert len(sent) > 1 and "".join(m["text"] for m in sent) == text
    assert "quickReply" in sent[-1] and all("quickReply" not in m for m in sent[:-1])


def test_more_choices_than_quick_replies_is_the_flows_mistake_and_raises() -> None:
    too_many = Text("どれですか？", choices=tuple(Choice(str(n), str(n)) for n in range(14)))
    with pytest.raises(ValueError, match="14 choices"):
        render(too_many)


@pytest.mark.parametrize("name", list(CASES))
def test_rendered_json_is_what_the_sdks_own_to_dict_gives(name: str) -> None:
    """render serialises the SDK's models in one pass, not with their to_dict(): same JSON."""
    for rendered in [m for message in CASES[name] for m in render(message)]:
        assert Message.from_dict(rendered).to_dict() == rendered


def test_each_message_gets_its_own_quick_reply_though_the_choices_are_built_once() -> None:
    choices = (Choice("はい", "yes"), Choice("いいえ", "no"))
    [first] = render(Text("一", choices=choices))
    [expected] = render(Text("一", choices=choices))
    first["quickReply"]["items"].pop()
    first["quickReply"]["items"][0]["action"]["data"] = "changed"
    first["quickReply"]["items"][0]["type"] = "changed"
    first["quickReply"]["extra"] = "changed"
    [second] = render(Text("一", choices=choices))
    assert second == expected
    assert [i["action"]["data"] for i in second["quickReply"]["items"]] == ["yes", "no"]


def test_quick_replies_are_what_the_sdks_models_give_for_any_choices() -> None:
    """The cached quick reply, copied for each message, against a TextMessage built with the SDK's
    models from the same choices: labels cut to 20, displayText to 300, any characters."""
    rng = random.Random(15)
    words = ["はい", "いいえ", "", " ", "a" * 20, "b" * 21, "長" * 400, '"\\</>', "🌊" * 30, "\x00\n\u2028"]
    for _ in range(200):
        choices = tuple(
            Choice(rng.choice(words) or "空", f"{rng.choice(words)[:280]}:{n}")
            for n in range(rng.randint(1, 13))
        )
        for _ in range(2):  # built once, then from the cache
            [rendered] = render(Text("どれですか？", choices=choices))
            sdk = TextMessage(
                text="どれですか？",
                quickReply=QuickReply(
                    items=[
                        QuickReplyItem(
                            action=PostbackAction(
                                label=c.label if len(c.label) <= 20 else c.label[:19] + "…",
                                data=c.value,
                                displayText=c.label[:300],
                            )
                        )
                        for c in choices
                    ]
                ),
            )
            assert json.dumps(rendered, ensure_ascii=False) == json.dumps(sdk.to_dict(), ensure_ascii=False)


def _hostile_texts() -> list[str]:
    """Texts a flow may pass on (a citizen's words quoted back, staff's answers): edge lengths around
    LINE's 5,000 UTF-16 units, characters outside the BMP, control characters, and random ones. No
    lone surrogates: the webhook replaces them (bot/line/webhook.py), and split_text cannot measure
    them (before and after the shortcut)."""
    rng = random.Random(14)

    def char(code: int) -> str:
        return chr(code) if not 0xD800 <= code <= 0xDFFF else "\ufffd"

    fixed = [
        "",
        " ",
        "\n",
        "\x00",
        "".join(map(chr, range(32))) + "\x7f\x80\x9f",
        "🌊",
        "\u2028\u2029\ufeff\u202e\u200b",
        "e\u0301 👨‍👩‍👧 🇯🇵",
        '"quoted" \\ back\\slash </script>',
        "あ" * 5000,
        "あ" * 5001,
        "🌊" * 2500,
        "a" + "🌊" * 2500,
        "🌊" * 2499 + "\n" + "あ" * 10,
        ("長い文章です。\n" * 2000),
    ]
    randoms = [
        "".join(char(rng.randrange(0x110000)) for _ in range(rng.randrange(1, 60))) for _ in range(300)
    ]
    long_randoms = [
        "".join(char(rng.choice((rng.randrange(0x80), rng.randrange(0x10000, 0x110000)))) for _ in range(n))
        for n in (4999, 5000, 5001, 7777)
    ]
    return [*fixed, *randoms, *long_randoms]


def _sdk_text(piece: str) -> str:
    return json.dumps(TextMessage(text=piece).to_dict(), ensure_ascii=False)


@pytest.mark.parametrize("with_choices", [False, True])
def test_plain_texts_are_byte_for_byte_what_the_sdks_text_model_gives(with_choices: bool) -> None:
    """render builds a plain text without the SDK's model: the same JSON, keys in the same order, for
    any text (and the same pieces: split_text is applied first)."""
    choices = (Choice("はい", "yes"), Choice("いいえ", "no")) if with_choices else ()
    for text in _hostile_texts():
        rendered = render(Text(text, choices=choices))
        pieces = split_text(text)
        assert len(rendered) == len(pieces)
        for got, piece in zip(rendered[:-1] if with_choices else rendered, pieces, strict=False):
            assert json.dumps(got, ensure_ascii=False) == _sdk_text(piece)
        if with_choices:
            sdk = TextMessage(text=pieces[-1], quickReply=QuickReply.from_dict(rendered[-1]["quickReply"]))
            assert json.dumps(rendered[-1], ensure_ascii=False) == json.dumps(
                sdk.to_dict(), ensure_ascii=False
            )


def test_a_str_subclass_gives_the_same_json_through_the_sdks_model() -> None:
    class Marked(str):
        pass

    [rendered] = render(Text(Marked("印付きの文字列")))
    assert json.dumps(rendered, ensure_ascii=False) == _sdk_text("印付きの文字列")
