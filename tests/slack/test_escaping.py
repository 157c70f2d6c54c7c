"""Slack formatting injection, both ways, end to end through the real SDKs and the fake platforms.

A citizen's words go into Slack escaped: a name like `<!channel> 攻撃` pings no one and
`<https://evil.example/|公式サイト>` shows staff the address, not a disguised link. What staff type
in Slack arrives escaped with links and mentions as markup (the fake sends it as Slack does), and
the citizen gets it as readable plain text on LINE: `A&B`, not `A&amp;B`.
"""

from __future__ import annotations

import json
from typing import Any

from bot.sandbox.slack_signing import event_callback, slash_command, typed, view_submission
from storage.cases import Case
from tests.harness import wait_for
from tests.line.test_intake_e2e import USER, Citizen
from tests.slack.test_desk_e2e import STAFF, Desk, card_posted, desk

__all__ = ["desk"]  # the fixture, shared with the desk tests

NAME = "<!channel> 攻撃"
ORGANISATION = "<!everyone> & <@U_BOSS>"
BODY = "詳しくは<https://evil.example/|公式サイト>をご覧ください。A&B <!here>"
FOLLOW_UP = "追加です <@U_STAFF> <https://evil.example/login|ログイン> &amp;"


async def hostile_intake(citizen: Citizen) -> None:
    await citizen.type("相談する")
    await citizen.tap("yes")
    await citizen.tap("npo")
    await citizen.tap("NPO法人・市民活動団体")
    await citizen.type(ORGANISATION)
    await citizen.type(NAME)
    await citizen.type("こうげき")  # the name has kanji: its ふりがな is asked
    await citizen.tap("line")
    await citizen.type(BODY)
    await citizen.tap("flow:done")
    await citizen.tap("flow:skip")
    await citizen.tap("flow:confirm")


def shown(surface: Any) -> str:
    return json.dumps(surface, ensure_ascii=False)


def assert_literal(desk: Desk, surface: Any, *escaped: str) -> None:
    """Nothing in `surface` pings or disguises a link, and each escaped text is there as sent."""
    assert desk.slack.alarms(surface, allowed={f"<@{STAFF}>"}) == [], shown(surface)
    for text in escaped:
        assert text in shown(surface), text


async def test_citizen_text_is_shown_literally_and_pings_no_one(desk: Desk) -> None:
    citizen = Citizen(desk.bot.base_url, desk.line)
    await hostile_intake(citizen)
    case = await card_posted(desk)
    assert (case.person_name, case.organisation) == (NAME, ORGANISATION)

    # The card: name, organisation and body escaped, so Slack shows them as typed.
    card = desk.slack.message("C_NPO", case.slack_ts or "")
    assert_literal(
        desk,
        card,
        "&lt;!channel&gt; 攻撃",
        "&lt;!everyone&gt; &amp; &lt;@U_BOSS&gt;",
        "&lt;<https://evil.example/>|公式サイト&gt;",  # the address is the link, the label just text
        "A&amp;B &lt;!here&gt;",
    )

    # The citizen's follow-up in the thread.
    await citizen.type(FOLLOW_UP)
    await wait_for(lambda: any("追加です" in t for t in thread(desk, case)))
    [line] = [m for m in desk.slack.messages_in("C_NPO", case.slack_ts) if "追加です" in m["text"]]
    assert_literal(desk, line, "&lt;@U_STAFF&gt; &lt;<https://evil.example/login>|ログイン&gt; &amp;amp;")

    # Claim (the card is redrawn) and the reply modal, which names the citizen.
    assert (await desk.press(case, "case_claim"))[0] == 200
    await wait_for(lambda: f"<@{STAFF}>" in shown(desk.slack.message("C_NPO", case.slack_ts or "")))
    assert_literal(desk, desk.slack.message("C_NPO", case.slack_ts or ""), "&lt;!channel&gt; 攻撃")
    assert (await desk.press(case, "case_reply"))[0] == 200
    [opened] = [v for v in desk.slack.views if v.action == "open"]
    assert_literal(desk, opened.view, "&lt;!channel&gt; 攻撃")

    # /madoguchi cases and /madoguchi case NUMBER answer the caller with the same text, escaped.
    status, text = await desk.post(slash_command("/madoguchi", "cases", STAFF, "C_NPO"))
    assert status == 200
    answer: Any = json.loads(text) if text.startswith("{") else {"text": text}
    assert_literal(desk, answer, "&lt;!channel&gt; 攻撃")
    status, text = await desk.post(slash_command("/madoguchi", f"case {case.number}", STAFF, "C_NPO"))
    assert status == 200
    assert_literal(
        desk, json.loads(text), "&lt;!channel&gt; 攻撃", "&lt;<https://evil.example/>|公式サイト&gt;"
    )

    # App Home lists the case under the staff member's own.
    home = event_callback({"type": "app_home_opened", "user": STAFF, "channel": "D1", "tab": "home"})
    assert (await desk.post(home))[0] == 200
    published = desk.slack.home_views[STAFF]
    assert_literal(desk, published, "&lt;!channel&gt; 攻撃")

    # Across everything the bot posted or showed: no ping, no disguised link, anywhere.
    for message in desk.slack.messages + desk.slack.ephemerals:
        assert desk.slack.alarms(message, allowed={f"<@{STAFF}>"}) == [], shown(message)
    for view in desk.slack.views:
        assert desk.slack.alarms(view.view, allowed={f"<@{STAFF}>"}) == [], shown(view.view)


def thread(desk: Desk, case: Case) -> list[str]:
    return desk.thread(case)


async def test_staff_text_reaches_the_citizen_as_plain_text(desk: Desk) -> None:
    desk.slack.set_user(STAFF, "佐藤 一郎", display_name="佐藤")
    citizen = Citizen(desk.bot.base_url, desk.line)
    await hostile_intake(citizen)
    case = await card_posted(desk)
    sent = len(desk.line.sent_messages(USER))

    # Typed: "返信: A&B " and a bare address, then a labelled link and a mention the client makes.
    wire = typed("返信: A&B x<y>z https://example.org/?a=1&b=2 ") + "<https://example.org|site> <@U_STAFF>"
    event = desk.slack.user_message_event("C_NPO", STAFF, wire, case.slack_ts, as_typed=False)
    assert event["text"].startswith("返信: A&amp;B x&lt;y&gt;z <https://example.org/?a=1&amp;b=2> ")
    assert (await desk.post(event_callback(event)))[0] == 200
    await wait_for(lambda: len(desk.line.sent_messages(USER)) == sent + 1)
    received = desk.line.sent_messages(USER)[-1].message["text"]
    assert received == (
        f"【受付番号 {case.number}】\nA&B x<y>z https://example.org/?a=1&b=2 site (https://example.org) @佐藤"
    )
    [reply] = [m for m in await desk.bot.db.read.cases.messages(case.id) if m.direction == "reply"]
    assert reply.body == "A&B x<y>z https://example.org/?a=1&b=2 site (https://example.org) @佐藤"

    # An internal note is stored as plain text too, and sent to no one.
    note = desk.slack.user_message_event(
        "C_NPO", STAFF, typed("メモ & 確認 ") + "<mailto:a@example.org|a@example.org> <#C_NPO|npo>",
        case.slack_ts, as_typed=False,
    )  # fmt: skip
    assert (await desk.post(event_callback(note)))[0] == 200

    async def noted() -> bool:
        return any(m.direction == "note" for m in await desk.bot.db.read.cases.messages(case.id))

    await wait_for(noted)
    [stored] = [m for m in await desk.bot.db.read.cases.messages(case.id) if m.direction == "note"]
    assert stored.body == "メモ & 確認 a@example.org #npo"
    assert len(desk.line.sent_messages(USER)) == sent + 1


async def test_a_reply_from_the_modal_is_copied_into_the_thread_literally(desk: Desk) -> None:
    """The modal's text arrives raw (plain_text_input is not escaped); its copy in the thread must be."""
    citizen = Citizen(desk.bot.base_url, desk.line)
    await hostile_intake(citizen)
    case = await card_posted(desk)
    answer = "<!channel> ご確認ください & <https://evil.example/|公式サイト>"
    assert (await desk.press(case, "case_reply"))[0] == 200
    [opened] = [v for v in desk.slack.views if v.action == "open"]
    status, text = await desk.post(
        view_submission(STAFF, "case_reply_compose", {"reply": {"text": answer}},
                        opened.view["private_metadata"], opened.view_id)
    )  # fmt: skip
    assert status == 200
    preview = json.loads(text)["view"]
    assert (await desk.post(view_submission(STAFF, "case_reply_confirm", {}, preview["private_metadata"],
                                            opened.view_id)))[0] == 200  # fmt: skip
    await wait_for(lambda: any("返信しました" in t for t in desk.thread(case)))
    assert desk.line.sent_messages(USER)[-1].message["text"].endswith(answer)  # the citizen gets it as typed
    [copy] = [t for t in desk.thread(case) if "返信しました" in t]
    assert_literal(
        desk,
        {"text": copy},
        "&lt;!channel&gt; ご確認ください &amp; &lt;<https://evil.example/>|公式サイト&gt;",
    )


def test_the_markup_rules_one_by_one() -> None:
    from bot.slack.mrkdwn import escape, escape_cut, unescape

    assert escape("<!channel> & <@U1>") == "&lt;!channel&gt; &amp; &lt;@U1&gt;"
    assert unescape(escape("a <b> & &amp; &lt;")) == "a <b> & &amp; &lt;"
    assert escape_cut("&&&&", 12) == "&amp;&amp;…"  # an entity is never cut in half
    # Styling characters: look-alikes Slack does not parse, except between ASCII letters or digits.
    assert escape("*a* _b_ ~c~ `d` 第3回*会議") == "＊a＊ ＿b＿ ～c～ ｀d｀ 第3回＊会議"
    assert escape("taro_yamada@example.org channel_not_found 2*3") == (
        "taro_yamada@example.org channel_not_found 2*3"
    )
    # A web address is kept whole as a link showing itself; a label typed after it stays text.
    assert escape("見て https://x.example/_layouts/~a?b=1&c=2 です") == (
        "見て <https://x.example/_layouts/~a?b=1&amp;c=2> です"
    )
    assert escape("<https://evil.example/|bank>") == "&lt;<https://evil.example/>|bank&gt;"
    # What closes the sentence is not part of the address; parentheses inside it are.
    assert escape("詳細(https://x.example/a)をご覧ください") == "詳細(<https://x.example/a>)をご覧ください"
    assert escape("see https://x.example/a. Or https://x.example/b, ok") == (
        "see <https://x.example/a>. Or <https://x.example/b>, ok"
    )
    assert escape("https://x.example/wiki/A_(b)") == "<https://x.example/wiki/A_(b)>"
    assert escape_cut("見て https://x.example/abcdef", 12) == "見て …"  # a link is never cut in half
    assert unescape("<https://x.example/a?b=1&amp;c=2>") == "https://x.example/a?b=1&c=2"
    assert unescape("<https://x.example|site>") == "site (https://x.example)"
    assert unescape("<https://x.example|x.example>") == "https://x.example"
    assert unescape("<mailto:a@b.example|a@b.example>") == "a@b.example"
    assert unescape("<!here> <!channel> <!subteam^S1|@team> <!date^1|fallback>") == (
        "@here @channel @team fallback"
    )
    assert unescape("<@U1> <@U2|hanako> <#C1> <#C2|general>") == "@U1 @hanako #C1 #general"
