"""The fake Slack reads markup as strictly as Slack: a test that passes only because the fake missed a
ping or a disguised link proves nothing."""

from __future__ import annotations

from bot.sandbox.fake_slack import alarms


def test_mrkdwn_false_turns_off_styling_not_mentions() -> None:
    # Slack's `"mrkdwn": false` on a message stops *bold*; <!channel> in it still pings everyone.
    assert alarms({"text": "<!channel> 至急", "mrkdwn": False}) == ["<!channel>"]


def test_a_labelled_link_of_any_scheme_is_disguised() -> None:
    surface = {
        "text": "<tel:0120000000|センター> <slack://open|開く> <ftp://x.example/a|資料> <https://x.example>",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "<mailto:a@x.example|窓口>"}}],
    }
    assert alarms(surface) == [
        "<tel:0120000000|センター>",
        "<slack://open|開く>",
        "<ftp://x.example/a|資料>",
        "<mailto:a@x.example|窓口>",
    ]
    # What names itself is no disguise: a bare link, a channel, a date with its fallback.
    assert alarms({"text": "<https://x.example> <#C1|general> <!date^1|fallback>"}) == []
