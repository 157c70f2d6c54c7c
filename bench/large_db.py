"""A large center's database: memory, start time and staff answers at 100,000 users, 50,000 cases and
1,000,000 case messages (issue 14, goal 4).

    python bench/large_db.py [--users N] [--cases N] [--messages N] [--seed S] [--requests R]

Processes, each started and stopped here: `madoguchi serve` (HTTP-mode Slack, the configuration of
bench/webhook_ack.py with Slack pointed at the fake and one staff member), a fake LINE and a fake Slack
(`FakeSlack`, which stamps the time it receives each `views.publish`). This process seeds the
database and sends signed requests.

1. Empty database: the time from starting `serve` until it logs `server.started`, and its resident
   memory (VmRSS from /proc/<pid>/status) once started.
2. The seeded database (a deterministic generator, `--seed`): users; cases over about three years
   across the default categories, those of the last two days mostly new, of the last month mostly
   in progress (1,207 open in all at the defaults), the rest closed, assigned in turn to ten
   staff members; case messages spread over the cases; written with executemany in one transaction;
   the file's size. Then the start time and RSS again; App Home (a signed
   `app_home_opened` event until the fake Slack receives the `views.publish`) and `/madoguchi cases`
   (the signed slash command until its answer) `--requests` times each, from a staff member; and
   the RSS after them ("loaded").

Figures are printed next to the goals (RSS 120 MB idle empty, 200 MB loaded; start 2 s; 50 ms),
never asserted. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import math
import os
import random
import re
import sqlite3
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path

import aiohttp
from webhook_ack import Child, bot_config, child, cpu_model, load_average

from bot.sandbox.slack_signing import event_callback, signed_headers, slash_command
from storage import Database

ME = str(Path(__file__).resolve())
SIGNING_SECRET = "bench-signing-secret"  # as bench/webhook_ack.py configures it
STAFF = "U_STAFF"
# Cases are assigned in turn to ten staff members; the requests come from the first.
STAFF_MEMBERS = (STAFF, *(f"U_STAFF{n}" for n in range(1, 10)))
CATEGORIES = ("general", "collaboration", "npo", "professional", "coordinator", "other")
GOAL_RSS_IDLE_MB = 120
GOAL_RSS_MB = 200
GOAL_START_S = 2.0
GOAL_ANSWER_MS = 50.0


# -- the fake Slack, run as `large_db.py --role=fake-slack` ---------------------------------------------


async def _fake_slack_role(out: Path) -> None:
    """FakeSlack; on stdin close, writes the monotonic times at which views.publish arrived to `out`."""
    from aiohttp import web

    from bot.sandbox.fake_slack import FakeSlack

    slack = FakeSlack(bot_token="xoxb-bench")
    published: list[float] = []
    handle = slack._handle

    async def stamped(request: web.Request) -> web.StreamResponse:
        response = await handle(request)
        if request.path == "/api/views.publish":
            published.append(time.monotonic())
        return response

    slack._handle = stamped  # type: ignore[method-assign]  # a stopwatch around the fake, in this bench only
    await slack.start()
    print(f"ready address={slack.base_url}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await asyncio.to_thread(out.write_text, json.dumps(published), encoding="utf-8")
    await slack.close()


# -- the seeded database ---------------------------------------------------------------------------


def seed(path: Path, users: int, cases: int, messages: int, rng: random.Random) -> float:
    """Fill a migrated database; returns the seconds it took."""
    started = time.perf_counter()
    now = datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC)

    def at(days_ago: float) -> str:
        return (now - datetime.timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO users (id, line_user_id, display_name, following, privacy_agreed_at, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                (i, f"U{i:032x}", f"利用者{i}", int(rng.random() > 0.1), at(400), at(400), at(10))
                for i in range(1, users + 1)
            ),
        )
        per_year: dict[int, int] = {}
        rows = []
        for i in range(1, cases + 1):
            days_ago = 1000 * (cases - i) / cases  # oldest first, about three years
            year = (now - datetime.timedelta(days=days_ago)).year
            per_year[year] = per_year.get(year, 0) + 1
            # As a desk that answers within days and closes within weeks: the last two days' cases
            # mostly new, the last month's mostly in progress, everything older closed.
            roll = rng.random()
            if days_ago < 2:
                status = "new" if roll < 0.7 else "in_progress"
            elif days_ago < 30:
                status = "in_progress" if roll < 0.8 else "closed"
            else:
                status = "closed"
            rows.append(
                (
                    i,
                    f"{year}-{per_year[year]:05d}",
                    rng.randint(1, users),
                    rng.choice(CATEGORIES),
                    status,
                    None if status == "new" else STAFF_MEMBERS[i % len(STAFF_MEMBERS)],
                    "個人",
                    f"相談者{i}",
                    "line",
                    f"相談の内容 {i}: " + "市民活動の立ち上げについて" * 3,
                    "C_BENCH",
                    f"{1700000000 + i}.000100",
                    at(days_ago),
                    at(max(0.0, days_ago - 1)),
                    None if status != "closed" else at(max(0.0, days_ago - 5)),
                )
            )
        conn.executemany(
            "INSERT INTO cases (id, number, user_id, category, status, assignee, requester_type, person_name,"
            " contact_method, body, slack_channel, slack_ts, created_at, updated_at, closed_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        conn.executemany(
            "INSERT INTO case_numbers (year, last_seq) VALUES (?, ?)"
            " ON CONFLICT (year) DO UPDATE SET last_seq = excluded.last_seq",
            per_year.items(),
        )
        directions = ("citizen", "reply", "note", "system")
        conn.executemany(
            "INSERT INTO case_messages (case_id, direction, author, body, created_at) VALUES (?, ?, ?, ?, ?)",
            (
                (
                    1 + j * cases // messages,
                    rng.choice(directions),
                    STAFF,
                    f"やりとり {j}: ご連絡ありがとうございます。",
                    at(1000 * (messages - j) / messages),
                )
                for j in range(messages)
            ),
        )
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return time.perf_counter() - started


# -- measuring ---------------------------------------------------------------------------------------


def rss_mb(pid: int) -> float | None:
    try:
        for entry in Path(f"/proc/{pid}/status").read_text().splitlines():
            if entry.startswith("VmRSS:"):
                return int(entry.split()[1]) / 1024
    except OSError:
        pass
    return None


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def mb(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} MB"


def config_for(folder: Path, line_url: str, slack_url: str) -> Path:
    path = bot_config(folder, line_url)
    text = path.read_text(encoding="utf-8").replace(
        'api_base_url = "http://127.0.0.1:9/api/"', f'api_base_url = "{slack_url}/api/"\nstaff = ["{STAFF}"]'
    )
    path.write_text(text, encoding="utf-8")
    return path


async def staff_answers(bot: Child, slack_url: str, requests: int) -> tuple[list[float], list[float], int]:
    """The App Home requests' start times (each ends when its views.publish arrives), the
    `/madoguchi cases` round trips in seconds, and how many case numbers the last answer listed."""
    homes: list[float] = []
    commands: list[float] = []
    listed = 0
    url = f"{bot.address}/slack/events"
    async with aiohttp.ClientSession() as session:
        for _ in range(requests):
            raw, kind = event_callback(
                {"type": "app_home_opened", "user": STAFF, "channel": "D1", "tab": "home"}
            )
            begin = time.monotonic()
            async with session.post(
                url, data=raw, headers=signed_headers(SIGNING_SECRET, raw, content_type=kind)
            ) as r:
                await r.read()
            homes.append(begin)
            raw, kind = slash_command(
                "/madoguchi", "cases", STAFF, "C_BENCH", response_url=f"{slack_url}/hooks/commands/T1/1/bench"
            )
            begin = time.monotonic()
            async with session.post(
                url, data=raw, headers=signed_headers(SIGNING_SECRET, raw, content_type=kind)
            ) as r:
                answer = await r.text()
                assert r.status == 200, (r.status, answer[:200])
            commands.append(time.monotonic() - begin)
            listed = len(re.findall(r"\d{4}-\d{5}", answer))
    return homes, commands, listed


async def run(args: argparse.Namespace) -> None:
    print(
        f"large-database benchmark  {datetime.date.today()}  {cpu_model()}  os.cpu_count()={os.cpu_count()}"
        f"  Python {sys.version.split()[0]}  load average {load_average()}"
    )
    with tempfile.TemporaryDirectory(prefix="madoguchi-bench-") as tmp:
        folder = Path(tmp)
        stamps = folder / "published.json"
        async with (
            child("fake LINE", str(Path(ME).parent / "webhook_ack.py"), "--role=fake-line", "--users=1", "--tokens=0", f"--out={folder / 'tokens.json'}") as line,
            child("fake Slack", ME, "--role=fake-slack", f"--out={stamps}") as slack,
        ):  # fmt: skip
            config = config_for(folder, line.address, slack.address)
            database = folder / "madoguchi.sqlite3"

            serve = ("-m", "bot", "serve", "--config", str(config))
            begin = time.perf_counter()
            async with child("madoguchi serve", *serve, log_to_stderr=True) as bot:
                took = time.perf_counter() - begin
                idle_empty = rss_mb(bot.process.pid)
            print(f"1. empty database: started in {took:.2f} s (goal ≤ {GOAL_START_S:.0f} s),"
                  f" RSS {mb(idle_empty)} (goal ≤ {GOAL_RSS_IDLE_MB} MB)")  # fmt: skip

            db = await Database.open(database)  # the schema, as serve migrates it
            await db.close()
            seconds = seed(database, args.users, args.cases, args.messages, random.Random(args.seed))
            size = database.stat().st_size / 1024 / 1024
            with closing(sqlite3.connect(database)) as conn:
                (open_cases,) = conn.execute("SELECT count(*) FROM cases WHERE status != 'closed'").fetchone()
            print(
                f"2. seeded {args.users:,} users, {args.cases:,} cases, {args.messages:,} case messages"
                f" ({open_cases:,} open) in {seconds:.1f} s (seed {args.seed}): database {size:.0f} MB"
            )
            begin = time.perf_counter()
            async with child("madoguchi serve", *serve, log_to_stderr=True) as bot:
                took = time.perf_counter() - begin
                idle = rss_mb(bot.process.pid)
                homes, commands, listed = await staff_answers(bot, slack.address, args.requests)
                loaded = rss_mb(bot.process.pid)
        published = json.loads(stamps.read_text(encoding="utf-8"))
    home_ms = [1000 * (min(t for t in published if t >= begin) - begin) for begin in homes]
    command_ms = [1000 * s for s in commands]
    print(f"   started in {took:.2f} s (goal ≤ {GOAL_START_S:.0f} s), RSS {mb(idle)} once started")
    for name, values in (("App Home (until views.publish)", home_ms), ("/madoguchi cases", command_ms)):
        print(
            f"   {name}: p50 {percentile(values, 50):.1f} ms, max {max(values):.1f} ms"
            f" over {len(values)} (goal ≤ {GOAL_ANSWER_MS:.0f} ms)"
        )
    print(f"   (the answer to /madoguchi cases listed {listed} case numbers)")
    print(f"   RSS after them {mb(loaded)} (goal ≤ {GOAL_RSS_MB} MB)")
    print(f"load average at the end {load_average()}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--cases", type=int, default=50_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--requests", type=int, default=20, help="App Home opens and commands, each (20)")
    parser.add_argument("--role", choices=["fake-slack"], help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role == "fake-slack":
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)  # stopped by the parent closing stdin
        asyncio.run(_fake_slack_role(args.out))
        return 0
    try:
        asyncio.run(run(args))
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
