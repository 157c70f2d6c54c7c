"""The demo page in a real browser (Playwright driving Debian's Chromium, never a downloaded one).

A citizen completes a consultation in the LINE pane by tapping what the bot offers and typing what it
asks; a staff member claims the case in the Slack pane, answers it through the reply modal (compose,
preview, confirm) and once more in the case thread; the citizen sees both answers. The conversation is
followed as it is at the time (labels and steps may change): the test taps the choice that moves
forward and types what the prompt asks for.

The screenshot is written under the test's tmp dir; with MADOGUCHI_SCREENSHOT=path it is also written
there (how docs/demo.png for the README is made).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.demo.conftest import DemoProcess

CHROMIUM = "/usr/bin/chromium"

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing: .ci/run installs it (apt-get install chromium)")
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)

CHOICES = "#quick-replies .quick-reply, #chat .line-row.bot:last-child .line-action"
CASE_NUMBER = re.compile(r"\d{4}-\d{4}")
# Choices that move a consultation forward, best first (postback data as the flows send it).
FORWARD = ("flow:confirm", "flow:done", "flow:skip", "yes", "line")
# Choices that go back, stop or page through a list: never the way forward.
AWAY = ("flow:back", "flow:cancel", "flow:edit", "flow:restart", "no", "flow:page:")
# What to type for a question, by what the question mentions; tried in order if one is refused.
ANSWERS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("ふりがな", "フリガナ", "よみがな"), ("やまだ はなこ",)),
    (("電話番号",), ("045-123-4567",)),
    (("メールアドレス",), ("hanako@example.jp",)),
    (("団体", "会社", "学校"), ("みずべの会",)),
    (("お名前", "氏名", "名前"), ("山田 花子",)),
    (("日時", "日程", "希望"), ("平日の午後",)),
)
CONSULTATION = "子ども食堂を始めたいので、活動場所と助成金について相談したいです。"
ANSWER = "活動場所の候補と、使える助成金の一覧をご案内します。"
THREAD_ANSWER = "来週の市民協働相談会にもご予約いただけます。"


@pytest.fixture
def page(demo: DemoProcess) -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="ja-JP")
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(demo.url)
            yield page
            assert errors == [], errors
        finally:
            browser.close()


def bot_rows(page: Page) -> int:
    return page.locator("#chat .line-row.bot").count()


def settle(page: Page, before: int, within: float = 15.0) -> None:
    """Wait until the bot answered (more bot messages than `before`) and nothing more arrives."""
    deadline = time.monotonic() + within
    while bot_rows(page) <= before:
        assert time.monotonic() < deadline, "the bot did not answer in the LINE pane"
        page.wait_for_timeout(100)
    count, quiet_since = bot_rows(page), time.monotonic()
    while time.monotonic() - quiet_since < 1.2:
        page.wait_for_timeout(100)
        if bot_rows(page) != count:
            count, quiet_since = bot_rows(page), time.monotonic()
        assert time.monotonic() < deadline + 10, "the bot kept talking"


def last_bot_text(page: Page) -> str:
    return page.locator("#chat .line-row.bot").last.inner_text()


def offered(page: Page) -> list[tuple[str, str]]:
    """(postback data, label) of the choices on screen now: quick replies and the last message's buttons."""
    choices = page.locator(CHOICES)
    return [
        (choices.nth(i).get_attribute("data-data") or "", choices.nth(i).inner_text())
        for i in range(choices.count())
    ]


def choose(options: list[tuple[str, str]]) -> int | None:
    for wanted in FORWARD:
        for index, (data, _) in enumerate(options):
            if data == wanted:
                return index
    for index, (data, _) in enumerate(options):
        if not data.startswith(AWAY) and data not in AWAY:
            return index
    return None


def tap(page: Page, index: int) -> None:
    before = bot_rows(page)
    page.locator(CHOICES).nth(index).click()
    settle(page, before)


def type_text(page: Page, text: str) -> None:
    before = bot_rows(page)
    page.locator("#line-input").fill(text)
    page.locator("#line-send").click()
    settle(page, before)


def answer_for(prompt: str, tried: int) -> str:
    for words, answers in ANSWERS:
        if any(word in prompt for word in words):
            return answers[min(tried, len(answers) - 1)]
    return CONSULTATION


def complete_consultation(page: Page) -> str:
    """From the rich menu to the case number, following whatever the bot asks."""
    before = bot_rows(page)
    menu = page.locator(".richmenu-area[aria-label='相談する']")
    if menu.count():
        menu.click()
        settle(page, before)
    else:
        type_text(page, "相談する")
    typed_consultation = False
    tries: dict[str, int] = {}
    for _ in range(40):
        text = last_bot_text(page)
        if CASE_NUMBER.search(text) and "受付" in text:
            found = CASE_NUMBER.search(text)
            assert found is not None
            return found.group(0)
        options = offered(page)
        pick = choose(options)
        # A question that also offers choices (e.g. "入力完了" under the consultation text) is answered by
        # typing first when it asks for the consultation itself.
        asks_consultation = "内容" in text and not typed_consultation
        if asks_consultation and not any(data == "flow:confirm" for data, _ in options):
            typed_consultation = True
            type_text(page, CONSULTATION)
            continue
        if pick is not None:
            tap(page, pick)
            continue
        tried = tries.get(text, 0)
        tries[text] = tried + 1
        type_text(page, answer_for(text, tried))
    transcript = page.locator("#chat").inner_text()
    raise AssertionError(f"no case number after 40 steps; the conversation:\n{transcript}")


def open_card(page: Page, number: str) -> None:
    """The channel whose new message is the case card, found as staff would: the open channel, or one
    marked unread."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for channel in [None, *page.locator(".nav-item.channel.unread").all()]:
            if channel is not None:
                channel.click()
            card = page.locator("#messages .slack-msg", has_text=number)
            if card.count() and card.first.locator("[data-action-id='case_claim']").count():
                return
        page.wait_for_timeout(200)
    raise AssertionError(f"no card for {number} in any channel")


def test_a_citizen_consults_and_staff_answer_through_the_page(page: Page, tmp_path: Path) -> None:
    expect(page.locator("#chat .line-row.bot").first).to_be_visible()
    number = complete_consultation(page)

    # Staff: the card arrives in a case channel; claim it.
    open_card(page, number)
    card = page.locator("#messages .slack-msg", has_text=number).first
    card.locator("[data-action-id='case_claim']").click()
    expect(card.locator("[data-action-id='case_unclaim']")).to_be_visible(timeout=15_000)

    # Reply through the modal: compose, preview, confirm.
    card.locator("[data-action-id='case_reply']").click()
    modal = page.locator("#modal .modal")
    expect(modal).to_be_visible(timeout=10_000)
    modal.locator("textarea").fill(ANSWER)
    modal.locator(".modal-submit").click()
    expect(modal).to_contain_text(number, timeout=10_000)  # the preview shows what the citizen will read
    expect(modal.locator("textarea")).to_have_count(0)
    modal.locator(".modal-submit").click()
    expect(page.locator("#modal")).to_be_hidden(timeout=10_000)

    # The citizen sees the answer in the LINE pane.
    expect(page.locator("#chat .line-row.bot", has_text=ANSWER)).to_be_visible(timeout=20_000)

    # And a second answer written in the case thread with the reply prefix.
    card.locator(".thread-link").click()
    expect(page.locator("#thread")).to_be_visible()
    prefix = page.locator("#thread-hint").inner_text().split("「", 1)[1].split("」", 1)[0]
    page.locator("#thread-input").fill(f"{prefix}{THREAD_ANSWER}")
    page.locator("#thread-send").click()
    expect(page.locator("#chat .line-row.bot", has_text=THREAD_ANSWER)).to_be_visible(timeout=20_000)
    expect(page.locator("#thread-messages")).to_contain_text(THREAD_ANSWER)

    page.wait_for_timeout(600)  # let the last poll paint
    shot = tmp_path / "demo.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    copy_to = os.environ.get("MADOGUCHI_SCREENSHOT")
    if copy_to:
        shutil.copyfile(shot, copy_to)
