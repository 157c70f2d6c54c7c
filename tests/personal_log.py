"""The log carries no personal data: a fixture for the end-to-end modules that captures the log as
`serve` writes it (tests/harness.py `captured_log`) and fails the test if any of the test citizens'
names, readings, phone numbers, e-mail addresses or consultation texts appear in it.

Use it with `pytestmark = pytest.mark.usefixtures("no_personal_data_in_log")` and an import of it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness import ServerLog, captured_log

# What the test citizens type in tests/line/test_intake_e2e.py, tests/slack/test_desk_e2e.py and
# tests/slack/test_deletion_e2e.py (and staff write about them).
PERSONAL = (
    "山田", "花子", "やまだ", "はなこ", "ヤマダ", "ハナコ", "ﾔﾏﾀﾞ", "佐藤 一郎", "さとう いちろう",
    "みずべの会", "みずべ町内会", "045-123-4567", "０４５－１２３－４５６７", "hanako@example.jp",
    "ｈａｎａｋｏ", "川沿いの清掃", "NPOを立ち上げたい", "NPO法人の設立手続き", "定款", "領収書",
    "20人ほど", "12月5日の午後", "もう一点だけ", "追加のメッセージ", "必要書類", "雛形", "一度だけ届きます",
    "勝手な返事", "短くまとめ直しました", "会員は10人",
)  # fmt: skip


@pytest.fixture
def no_personal_data_in_log() -> Iterator[ServerLog]:
    with captured_log(PERSONAL[0]) as log:
        yield log
    leaked = [word for word in PERSONAL if word in log.text]
    assert leaked == [], f"personal data in the log: {leaked}\n{log.text}"
