"""The privacy notice before every consultation: what a municipal notice must say, from the
configuration (`[privacy]`), and each agreement recorded with its time and the notice's version."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError
from bot.runtime import Runtime
from bot.sandbox.fake_line import FakeLine
from tests.harness import settings_for
from tests.line.test_intake_e2e import USER, Citizen, quick_replies
from tests.personal_log import no_personal_data_in_log  # noqa: F401

pytestmark = pytest.mark.usefixtures("no_personal_data_in_log")

PRIVACY = """
[privacy]
notice_version = "{version}"
policy_url = "https://www.example.jp/privacy"
anonymise_closed_after_days = 1825
"""


async def test_the_notice_names_the_operators_the_sharing_slack_retention_deletion_and_the_policy(
    tmp_path: Path, line: FakeLine
) -> None:
    async with Runtime(settings_for(tmp_path, line.base_url, PRIVACY.format(version="2026-04"))) as bot:
        citizen = Citizen(bot.base_url, line, bot)
        *_, notice, question = await citizen.type("相談する")  # after the out-of-hours notice, if any
        text = notice["text"]
        for must in (
            "認定NPO法人市民セクターよこはま",  # who runs it
            "横浜市市民局",
            "ご相談にお答えするため",  # the purpose
            "市民協働推進課と共有",  # shared with the city, to be discussed and answered
            "外部のクラウドサービス（Slack）",  # where staff handle it
            "5年後に削除",  # how long ([privacy] anonymise_closed_after_days = 1825)
            "「削除」と送る",  # how to have it deleted
        ):
            assert must in text, must
        assert len(text) <= 400 and text.count("\n") <= 8  # one phone screen
        assert "https://www.example.jp/privacy" in question["text"]
        assert question["text"].index("https://") < question["text"].index("同意いただけますか")
        assert quick_replies([question]) == [("同意する", "yes"), ("同意しない", "no")]
        await citizen.tap("yes")
        user = await bot.db.read.users.by_line_id(USER)
        assert user is not None and user.privacy_agreed_at is not None
        assert user.privacy_notice_version == "2026-04"


async def test_a_new_version_of_the_notice_is_asked_and_recorded_again(
    tmp_path: Path, line: FakeLine
) -> None:
    async with Runtime(settings_for(tmp_path, line.base_url, PRIVACY.format(version="1"))) as bot:
        citizen = Citizen(bot.base_url, line, bot)
        await citizen.type("相談する")
        await citizen.type("同意します")
        await citizen.type("キャンセル")
        first = await bot.db.read.users.by_line_id(USER)
        assert first is not None and first.privacy_notice_version == "1"
    async with Runtime(settings_for(tmp_path, line.base_url, PRIVACY.format(version="2"))) as bot:
        citizen = Citizen(bot.base_url, line, bot)
        asked = await citizen.type("相談する")
        assert "【個人情報の取り扱い】" in asked[-2]["text"] and "同意いただけますか" in asked[-1]["text"]
        await citizen.type("1")
        again = await bot.db.read.users.by_line_id(USER)
        assert again is not None and again.privacy_notice_version == "2"
        assert first.privacy_agreed_at is not None and again.privacy_agreed_at is not None
        assert again.privacy_agreed_at > first.privacy_agreed_at


def test_without_a_policy_url_the_link_is_left_out_and_a_bad_one_is_refused(tmp_path: Path) -> None:
    from flows import privacy
    from flows.texts import Texts

    texts = Texts.load()
    assert privacy.policy_line(texts, "") == ""
    assert privacy.retention_text(1095, texts) == "3年" and privacy.retention_text(400, texts) == "400日"
    with pytest.raises(ConfigError, match=r"privacy\.policy_url"):
        settings_for(tmp_path, "http://127.0.0.1:9", '[privacy]\npolicy_url = "http://example.jp/privacy"')
    with pytest.raises(ConfigError, match=r"privacy\.notice_version"):
        settings_for(tmp_path, "http://127.0.0.1:9", '[privacy]\nnotice_version = ""')
