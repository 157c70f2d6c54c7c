"""End to end, webhook to answer accepted by the fake LINE: events/s, CPU per event, and the latency of a
conversation step with many citizens mid-intake (issue 14, goal 2).

    python bench/e2e.py [--events N] [--concurrency C] [--citizens K] [--steps S]

Processes, each started and stopped here: `madoguchi serve` (temporary config and database, the
configuration of bench/webhook_ack.py) and a fake LINE (`FakeLine`) that stamps the time at which it
accepted each answer. This process only sends signed webhooks.

1. Throughput: N text events from 200 users, C requests in flight, as fast as they are acknowledged;
   the clock stops when every event is handled and every answer accepted by the fake LINE.
   Events/s = N / that time; CPU per event = the server process's user + system CPU (from
   /proc/<pid>/stat) over the same span, divided by N.
2. Conversation step: K citizens start a consultation (相談する, agree) and then, S times in a row, all
   K at once take the next step of the intake (category, who they are, organisation, name,
   furigana, contact, phone, the consultation text...). Each step's latency is from the POST to the
   moment the fake LINE accepted that citizen's answer (both on the machine's monotonic clock).

Figures are printed next to the goals (1,000 events/s, 1 ms CPU per event, p99 100 ms), never
asserted. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
from webhook_ack import (  # the same children, configuration and load generator
    SECRET,
    TOKEN,
    Child,
    bot_config,
    child,
    cpu_model,
    load,
    load_average,
    settled,
    user_id,
)

from bot.sandbox.line_webhook import postback_event, signed_headers, text_event, webhook_body

ME = str(Path(__file__).resolve())
TEXT = "こんにちは、相談したいことがあります"
# A consultation up to the step before its summary: (kind, value) for each event.
INTAKE_START = [("text", "相談する"), ("postback", "yes")]
INTAKE_STEPS = [
    ("postback", "collaboration"),
    ("postback", "NPO法人・市民活動団体"),
    ("text", "みずべの会"),
    ("text", "山田 花子"),
    ("text", "ヤマダ ハナコ"),
    ("postback", "phone"),
    ("text", "045-123-4567"),
    ("text", "川沿いの清掃活動を区と一緒にできないか相談したいです。"),
    ("text", "月に一度、20人ほどで活動しています。"),
    ("postback", "flow:done"),
]
GOAL_EVENTS_PER_S = 1000
GOAL_CPU_MS = 1.0
GOAL_P99_MS = 100.0


# -- the fake LINE, run as `e2e.py --role=fake-line` -----------------------------------------------------


async def _fake_line_role(users: int, out: Path) -> None:
    """FakeLine with a profile per user; on a stdin line `tokens U1 U2 ...` it prints `tokens [..]`, a
    fresh reply token for each; when stdin closes it writes, per user, the monotonic times at which
    it accepted an answer (reply or push) to `out`."""
    from aiohttp import web

    from bot.sandbox.fake_line import FakeLine

    line = FakeLine(access_token=TOKEN, quota=10**9)
    accepted: dict[str, list[float]] = {}
    owner: dict[str, str] = {}  # reply token -> the user it was issued for
    handle = line._handle

    async def stamped(request: web.Request) -> web.StreamResponse:
        response = await handle(request)
        if response.status == 200 and request.path in ("/v2/bot/message/reply", "/v2/bot/message/push"):
            body = json.loads(await request.read())
            to = body.get("to") or owner.get(body.get("replyToken", ""))
            if to:
                accepted.setdefault(str(to), []).append(time.monotonic())
        return response

    line._handle = stamped  # type: ignore[method-assign]  # a stopwatch around the fake, in this bench only
    await line.start()
    for i in range(users):
        line.set_profile(user_id(i), f"利用者{i}")
    print(f"ready address={line.base_url}", flush=True)
    loop = asyncio.get_running_loop()
    while command := await loop.run_in_executor(None, sys.stdin.readline):
        issued = []
        for name in command.split()[1:]:
            issued.append(line.issue_reply_token(name))
            owner[issued[-1]] = name
        print("tokens " + json.dumps(issued), flush=True)
    await asyncio.to_thread(out.write_text, json.dumps(accepted), encoding="utf-8")
    await line.close()


# -- helpers -------------------------------------------------------------------------------------------


async def tokens(fake: Child, users: Sequence[str]) -> list[str]:
    """Fresh reply tokens from the fake LINE, one for each user (asked 500 at a time: the answer is
    one line, and a line of the child's output may not pass 64 KiB)."""
    assert fake.process.stdin is not None
    issued: list[str] = []
    for start in range(0, len(users), 500):
        seen = len(fake.log_lines)
        fake.process.stdin.write(("tokens " + " ".join(users[start : start + 500]) + "\n").encode())
        await fake.process.stdin.drain()
        while True:
            answers = [entry for entry in fake.log_lines[seen:] if entry.startswith("tokens ")]
            if answers:
                break
            await asyncio.sleep(0.001)
        issued += json.loads(answers[0][len("tokens ") :])
    return issued


def event(kind: str, user: str, value: str, token: str) -> dict[str, Any]:
    if kind == "text":
        return text_event(user, value, reply_token=token)
    return postback_event(user, value, reply_token=token)


def signed(events: list[dict[str, Any]]) -> tuple[bytes, dict[str, str]]:
    body = webhook_body(events)
    return body, signed_headers(SECRET, body)


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def thread_cpu(pid: int) -> dict[int, float]:
    """User + system CPU seconds of each thread of a process (Linux /proc; empty elsewhere)."""
    found: dict[int, float] = {}
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            stat = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        found[int(task.name)] = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    return found


def split_by_thread(pid: int, before: dict[int, float], after: dict[int, float]) -> str:
    """The event loop's thread (the process's main one) and the busiest others (SQLite's, executor)."""
    spent = {tid: after[tid] - before.get(tid, 0.0) for tid in after}
    total = sum(spent.values()) or 1.0
    others = sorted((v for tid, v in spent.items() if tid != pid), reverse=True)
    shown = ", ".join(f"{100 * v / total:.0f} %" for v in others[:3] if v > 0)
    return f"event loop thread {100 * spent.get(pid, 0.0) / total:.0f} %, other threads {shown or '0 %'}"


# -- the run ----------------------------------------------------------------------------------------


async def throughput(bot: Child, fake: Child, db: Path, args: argparse.Namespace) -> None:
    users = [user_id(i) for i in range(200)]
    issued = await tokens(fake, [users[j % len(users)] for j in range(args.events)])
    requests = [
        signed([text_event(users[j % len(users)], TEXT, reply_token=issued[j])]) for j in range(args.events)
    ]
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    cpu_before, threads_before = bot.cpu_seconds(), thread_cpu(bot.process.pid)
    async with aiohttp.ClientSession(connector=connector) as session:
        result = await load(session, f"{bot.address}/line/webhook", requests, args.concurrency, bot)
    _, delivered = await settled(bot, db, result.statuses[200] + args.warmed, args.drain_timeout)
    cpu_after, threads_after = bot.cpu_seconds(), thread_cpu(bot.process.pid)
    print(f"1. throughput: {args.events} text events, {args.concurrency} in flight, 200 users")
    print(f"   acknowledged: {len(result.latencies) / result.seconds:.0f}/s, non-200 {result.non_200}")
    if delivered is None:
        print(f"   NOT all answered within {args.drain_timeout:.0f} s")
        return
    took = delivered - result.started
    rate = args.events / took
    print(f"   all handled and answered {took:.2f} s after the first request: {rate:.0f} events/s", end="")
    print(f"   (goal ≥ {GOAL_EVENTS_PER_S}: {rate / GOAL_EVENTS_PER_S:.2f} of it)")
    if cpu_before is not None and cpu_after is not None:
        per_event = 1000 * (cpu_after - cpu_before) / args.events
        print(
            f"   server CPU {cpu_after - cpu_before:.2f} s = {per_event:.2f} ms per event"
            f" (goal ≤ {GOAL_CPU_MS} ms), {100 * (cpu_after - cpu_before) / took:.0f} % of a core"
        )
        print(f"   server CPU by thread: {split_by_thread(bot.process.pid, threads_before, threads_after)}")


async def conversation(bot: Child, fake: Child, db: Path, args: argparse.Namespace) -> list[float]:
    """Returns the POST times of each step for each citizen (measured steps only)."""
    citizens = [user_id(200 + c) for c in range(args.citizens)]
    steps = (INTAKE_START + INTAKE_STEPS)[: len(INTAKE_START) + args.steps]
    posted: list[float] = []
    total = args.warmed
    connector = aiohttp.TCPConnector(limit=args.citizens)
    async with aiohttp.ClientSession(connector=connector) as session:
        for n, (kind, value) in enumerate(steps):
            issued = await tokens(fake, citizens)
            bodies = [signed([event(kind, u, value, t)]) for u, t in zip(citizens, issued, strict=True)]

            async def post(body: bytes, headers: dict[str, str]) -> float:
                at = time.monotonic()
                async with session.post(f"{bot.address}/line/webhook", data=body, headers=headers) as r:
                    await r.read()
                    assert r.status == 200, r.status
                return at

            times = await asyncio.gather(*(post(b, h) for b, h in bodies))
            total += len(citizens)
            await settled(bot, db, total, args.drain_timeout)  # every answer out before the next step
            if n >= len(INTAKE_START):
                posted.extend(times)
    args.warmed = total
    return posted


async def run(args: argparse.Namespace) -> None:
    print(
        f"end-to-end benchmark  {datetime.date.today()}  {platform.machine()}  {cpu_model()}"
        f"  os.cpu_count()={os.cpu_count()}  Python {platform.python_version()}  load average {load_average()}"
    )
    with tempfile.TemporaryDirectory(prefix="madoguchi-bench-") as tmp:
        folder = Path(tmp)
        stamps = folder / "accepted.json"
        fake_args = ("--role=fake-line", f"--users={200 + args.citizens}", f"--out={stamps}")
        async with child("fake LINE", ME, *fake_args) as fake:
            config = bot_config(folder, fake.address)
            db = folder / "madoguchi.sqlite3"
            async with child(
                "madoguchi serve", "-m", "bot", "serve", "--config", str(config), log_to_stderr=True
            ) as bot:
                args.warmed = 0
                # Warm-up: imports, first connections, the first users' rows.
                issued = await tokens(fake, [user_id(i) for i in range(200)])
                warm = [signed([text_event(user_id(i), TEXT, reply_token=t)]) for i, t in enumerate(issued)]
                async with aiohttp.ClientSession() as session:
                    await load(session, f"{bot.address}/line/webhook", warm, 32, bot)
                args.warmed = len(warm)
                await settled(bot, db, args.warmed, args.drain_timeout)
                await throughput(bot, fake, db, args)
                print(f"   load average now {load_average()}")
                cpu_before = bot.cpu_seconds()
                posted = await conversation(bot, fake, db, args)
                cpu_after = bot.cpu_seconds()
        accepted: dict[str, list[float]] = json.loads(stamps.read_text(encoding="utf-8"))
    # Each citizen's answer to a step is the first the fake accepted for them after the POST.
    latencies = []
    for i, at in enumerate(posted):
        citizen = user_id(200 + i % args.citizens)
        later = [t for t in accepted.get(citizen, []) if t >= at]
        if later:
            latencies.append(1000 * (min(later) - at))
    steps = len(posted) // args.citizens
    print(f"2. conversation step: {args.citizens} citizens mid-intake, {steps} steps each, all at once")
    print(
        f"   {len(latencies)} of {len(posted)} answers timed: p50 {percentile(latencies, 50):.1f} ms,"
        f" p99 {percentile(latencies, 99):.1f} ms, max {max(latencies):.1f} ms (goal p99 ≤ {GOAL_P99_MS:.0f} ms)"
    )
    if cpu_before is not None and cpu_after is not None:
        events = args.citizens * (steps + len(INTAKE_START))
        print(f"   server CPU {1000 * (cpu_after - cpu_before) / events:.2f} ms per intake event")
    print(f"load average at the end {load_average()}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=3000, help="events for the throughput run (3000)")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight (64)")
    parser.add_argument("--citizens", type=int, default=200, help="citizens mid-intake (200)")
    parser.add_argument("--steps", type=int, default=len(INTAKE_STEPS), help="measured intake steps (10)")
    parser.add_argument("--drain-timeout", type=float, default=300.0, help="seconds to wait for answers")
    parser.add_argument("--role", choices=["fake-line"], help=argparse.SUPPRESS)
    parser.add_argument("--users", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role == "fake-line":
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)  # stopped by the parent closing stdin
        asyncio.run(_fake_line_role(args.users, args.out))
        return 0
    try:
        asyncio.run(run(args))
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
