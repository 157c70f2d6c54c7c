"""How fast `POST /line/webhook` is acknowledged, next to a bare aiohttp handler on the same machine.

    python bench/webhook_ack.py [--requests N] [--concurrency C]

Three processes besides this one, each started and stopped here: a bare aiohttp server (a handler that
reads the body and answers 200), `madoguchi serve` with a temporary config and database, and a fake
LINE platform (`bot.sandbox.fake_line.FakeLine`) that the bot answers the events through. This process
only generates load: one aiohttp session, C requests in flight, one signed text event per request.
After the load it watches the SQLite file (read-only) until every event is handled and every answer
delivered, then stops the bot and counts the inbox. See bench/README.md for figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import math
import os
import platform
import signal
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web

from bot.sandbox.line_webhook import signed_headers, text_event, webhook_body

ME = str(Path(__file__).resolve())
REPO = Path(ME).parent.parent
SECRET = "bench-line-channel-secret"
TOKEN = "bench-access-token"
TEXT = "こんにちは、相談したいことがあります"
Request = tuple[bytes, dict[str, str]]
# Issue 14, goal 1: acknowledgements at this share of the bare handler's rate, at most this p99.
GOAL_RATIO = 0.6
GOAL_P99_MS = 15.0


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else what the platform says."""
    try:
        for entry in Path("/proc/cpuinfo").read_text().splitlines():
            if entry.startswith("model name"):
                return entry.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "n/a"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (Linux /proc), "n/a" elsewhere."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def user_id(i: int) -> str:
    return f"U{i:032x}"


# -- the two helper servers, run as `webhook_ack.py --role ...` in their own processes ----------------


async def _serve_until_stdin_closes(close: Callable[[], Awaitable[None]], ready: str) -> None:
    """Print the ready line, then serve until the parent closes our stdin (or dies)."""
    print(ready, flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.buffer.read)
    await close()


async def _bare_role() -> None:
    async def ok(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=200, text="{}", content_type="application/json")

    app = web.Application()
    app.router.add_post("/line/webhook", ok)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    await _serve_until_stdin_closes(runner.cleanup, f"ready address=http://127.0.0.1:{port}")


async def _fake_line_role(users: int, tokens: int, out: Path) -> None:
    """FakeLine with a profile per user and `tokens` reply tokens (token j belongs to user j % users)."""
    from bot.sandbox.fake_line import FakeLine

    line = FakeLine(access_token=TOKEN, quota=10**9)  # pushes (stale tokens) never hit the quota
    await line.start()
    for i in range(users):
        line.set_profile(user_id(i), f"利用者{i}")
    issued = [line.issue_reply_token(user_id(j % users)) for j in range(tokens)]
    await asyncio.to_thread(out.write_text, json.dumps(issued), encoding="utf-8")
    await _serve_until_stdin_closes(line.close, f"ready address={line.base_url}")


# -- child processes ----------------------------------------------------------------------------------


@dataclass
class Child:
    name: str
    process: asyncio.subprocess.Process
    address: str
    log_lines: list[str] = field(default_factory=list)
    drain: asyncio.Task[None] | None = None

    def cpu_seconds(self) -> float | None:
        """User + system CPU time of the process so far (Linux /proc), None elsewhere."""
        try:
            stat = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")


async def _read_until(stream: asyncio.StreamReader, marker: str, lines: list[str], name: str) -> str:
    while True:
        raw = await asyncio.wait_for(stream.readline(), timeout=30)
        if not raw:
            raise RuntimeError(f"{name} exited before it was ready:\n{''.join(lines[-20:])}")
        line = raw.decode(errors="replace")
        lines.append(line)
        start = line.find(marker)
        if start >= 0:
            return line[start + len(marker) :].split()[0]


async def _keep_reading(stream: asyncio.StreamReader, lines: list[str]) -> None:
    """Drain a child's log so it never blocks on a full pipe; keep the lines for the summary."""
    while raw := await stream.readline():
        lines.append(raw.decode(errors="replace"))


@contextlib.asynccontextmanager
async def child(name: str, *args: str, log_to_stderr: bool = False) -> AsyncIterator[Child]:
    """A subprocess that announces `address=URL` once it is serving; stopped (and reaped) on exit."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, *args, cwd=REPO, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL if log_to_stderr else asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE if log_to_stderr else None,
    )  # fmt: skip
    stream = process.stderr if log_to_stderr else process.stdout
    assert stream is not None and process.stdin is not None
    lines: list[str] = []
    try:
        marker = "event=server.started address=" if log_to_stderr else "ready address="
        found = Child(name, process, await _read_until(stream, marker, lines, name), lines)
        found.drain = asyncio.create_task(_keep_reading(stream, lines))
        yield found
    finally:
        process.stdin.close()  # our helper roles exit on EOF
        if log_to_stderr:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)  # madoguchi serve shuts down in order
        try:
            await asyncio.wait_for(process.wait(), timeout=15)
        except BaseException as exc:  # a timeout, or a second Ctrl-C
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            if not isinstance(exc, TimeoutError):
                raise


# -- load -------------------------------------------------------------------------------------------


@dataclass
class Load:
    latencies: list[float]
    statuses: Counter[int]
    seconds: float
    started: float
    client_cpu: float
    server_cpu: float | None

    def percentile_ms(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return 1000 * ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

    @property
    def non_200(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != 200)


async def load(
    session: aiohttp.ClientSession, url: str, requests: Sequence[Request], concurrency: int, server: Child
) -> Load:
    """POST every request, `concurrency` at a time; status 0 counts a connection error."""
    todo = iter(requests)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()

    async def worker() -> None:
        for body, headers in todo:
            begin = time.perf_counter()
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    status = response.status
            except aiohttp.ClientError:
                status = 0
            latencies.append(time.perf_counter() - begin)
            statuses[status] += 1

    server_cpu, client_cpu = server.cpu_seconds(), time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    server_after = server.cpu_seconds()
    return Load(
        latencies,
        statuses,
        seconds,
        started,
        (time.process_time() - client_cpu) / seconds,
        None if server_cpu is None or server_after is None else (server_after - server_cpu) / seconds,
    )


def build_requests(count: int, users: int, reply_tokens: Sequence[str] | None = None) -> list[Request]:
    """One text event per request, request j from user j % users, each with its own webhookEventId."""
    requests = []
    for j in range(count):
        token = reply_tokens[j] if reply_tokens is not None else None
        body = webhook_body([text_event(user_id(j % users), TEXT, reply_token=token)])
        requests.append((body, signed_headers(SECRET, body)))
    return requests


async def measure(
    address: str, requests: list[Request], warmup: int, concurrency: int, server: Child
) -> Load:
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        url = f"{address}/line/webhook"
        await load(session, url, requests[:warmup], concurrency, server)
        return await load(session, url, requests[warmup:], concurrency, server)


# -- the bot's database -----------------------------------------------------------------------------


def read_only(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)


def backlog(db: Path) -> tuple[int, int, int]:
    """(inbox rows, inbox rows not yet handled, outbox rows not yet delivered)."""
    with contextlib.closing(read_only(db)) as conn:
        total, pending = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'pending') FROM inbox"
        ).fetchone()
        (unsent,) = conn.execute("SELECT count(*) FROM outbox WHERE status = 'pending'").fetchone()
    return int(total), int(pending), int(unsent)


async def settled(bot: Child, db: Path, expected: int, within: float) -> tuple[float | None, float | None]:
    """perf_counter times at which the inbox was all handled and then the outbox all delivered."""
    handled = None
    deadline = time.perf_counter() + within
    while time.perf_counter() < deadline:
        if bot.process.returncode is not None:
            raise RuntimeError(f"madoguchi serve exited early:\n{''.join(bot.log_lines[-10:])}")
        total, pending, unsent = backlog(db)
        now = time.perf_counter()
        if handled is None and total >= expected and pending == 0:
            handled = now
        if handled is not None and unsent == 0:
            return handled, now
        await asyncio.sleep(0.01)
    return handled, None


# -- the run ----------------------------------------------------------------------------------------


def bot_config(folder: Path, line_url: str) -> Path:
    path = folder / "config.toml"
    path.write_text(
        f"""
[server]
host = "127.0.0.1"
port = 0
[storage]
path = "madoguchi.sqlite3"
[line]
channel_secret = "{SECRET}"
channel_access_token = "{TOKEN}"
api_base_url = "{line_url}"
data_api_base_url = "{line_url}"
[slack]
# HTTP mode, and the Web API on a closed loopback port: the benchmark reaches nothing off this machine.
mode = "http"
bot_token = "xoxb-bench"
signing_secret = "bench-signing-secret"
api_base_url = "http://127.0.0.1:9/api/"
default_channel = "C_BENCH"
""",
        encoding="utf-8",
    )
    return path


def row(name: str, result: Load) -> str:
    server_cpu = "n/a" if result.server_cpu is None else f"{100 * result.server_cpu:.0f}%"
    return (
        f"{name:<24}{len(result.latencies) / result.seconds:>8.0f}{result.percentile_ms(50):>9.1f}"
        f"{result.percentile_ms(99):>9.1f}{result.non_200:>9}{server_cpu:>12}{100 * result.client_cpu:>12.0f}%"
    )


async def run(args: argparse.Namespace) -> None:
    n, c, w, users = args.requests, args.concurrency, args.warmup, args.users
    print(
        f"webhook ack benchmark  {datetime.date.today()}  {platform.machine()}  {cpu_model()}  os.cpu_count()={os.cpu_count()}"
        f"  Python {platform.python_version()}  aiohttp {aiohttp.__version__}  load average {load_average()}"
    )
    print(f"N={n} requests after {w} warm-up, C={c} in flight, 1 text event per request, {users} users")
    print("the client is Python/aiohttp on the same machine: the bare line is also the client's ceiling\n")

    async with child("bare aiohttp", ME, "--role=bare") as bare:
        plain = await measure(bare.address, build_requests(w + n, users), w, c, bare)

    with tempfile.TemporaryDirectory(prefix="madoguchi-bench-") as tmp:
        folder = Path(tmp)
        tokens_file = folder / "reply-tokens.json"
        fake_args = (f"--users={users}", f"--tokens={w + n}", f"--out={tokens_file}")
        async with child("fake LINE", ME, "--role=fake-line", *fake_args) as line:
            requests = build_requests(w + n, users, json.loads(tokens_file.read_text(encoding="utf-8")))
            config = bot_config(folder, line.address)
            db = folder / "madoguchi.sqlite3"
            serve_args = ("-m", "bot", "serve", "--config", str(config))
            async with child("madoguchi serve", *serve_args, log_to_stderr=True) as bot:
                connector = aiohttp.TCPConnector(limit=c)
                async with aiohttp.ClientSession(connector=connector) as session:
                    url = f"{bot.address}/line/webhook"
                    warm = await load(session, url, requests[:w], c, bot)
                    await settled(bot, db, warm.statuses[200], args.drain_timeout)  # start from an idle bot
                    result = await load(session, url, requests[w:], c, bot)
                acked = warm.statuses[200] + result.statuses[200]
                handled, delivered = await settled(bot, db, acked, args.drain_timeout)
            log_lines = bot.log_lines
        with contextlib.closing(read_only(db)) as conn:
            stored = int(conn.execute("SELECT count(*) FROM inbox").fetchone()[0])
            inbox = dict(conn.execute("SELECT status, count(*) FROM inbox GROUP BY status").fetchall())
            outbox = conn.execute(
                "SELECT status, coalesce(delivered_via, '-'), count(*) FROM outbox GROUP BY 1, 2 ORDER BY 1, 2"
            ).fetchall()

    print(
        f"{'server':<24}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'non-200':>9}{'server CPU':>12}{'client CPU':>13}"
    )
    print(row("bare aiohttp handler", plain))
    print(row("madoguchi serve", result))
    print("(CPU: busy share of one core while the load ran; non-200 includes connection errors as status 0)")
    ratio = (len(result.latencies) / result.seconds) / (len(plain.latencies) / plain.seconds)
    print(
        f"goal 1: {ratio:.2f} of the bare handler's throughput (goal ≥ {GOAL_RATIO}),"
        f" p99 {result.percentile_ms(99):.1f} ms (goal ≤ {GOAL_P99_MS:.0f} ms), {c} in flight,"
        f" while the bot handles the events; load average {load_average()}"
    )

    print("\nmadoguchi, after the load (default log level INFO: a line per delivery):")
    verdict = "OK" if stored == acked else "MISMATCH"
    print(f"  inbox rows {stored}, requests answered 200 {acked} (warm-up included): {verdict}")
    print(f"  inbox by status: {inbox}")
    if handled is None:
        print(f"  NOT all handled within {args.drain_timeout:.0f} s after the load")
    else:
        took = handled - result.started
        print(
            f"  all {n} events handled {took:.2f} s after the load started: {n / took:.0f} events/s end to end"
            f" ({handled - result.started - result.seconds:.2f} s after the last 200)"
        )
    if delivered is not None:
        print(
            f"  all answers delivered to the fake LINE {delivered - result.started:.2f} s after the load started"
        )
    print("  outbox (status, via, rows): " + ", ".join(f"{s}/{v} {k}" for s, v, k in outbox))
    levels = Counter(
        part[6:] for entry in log_lines for part in entry.split()[1:2] if part.startswith("level=")
    )
    print(f"  bot log lines by level: {dict(levels)}")
    for logged in [x for x in log_lines if "level=warning" in x or "level=error" in x][:3]:
        print("    " + logged.strip()[:200])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per server (2000)")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight (64)")
    parser.add_argument("--warmup", type=int, default=200, help="requests sent first, not measured (200)")
    parser.add_argument("--users", type=int, default=200, help="distinct LINE users sending (200)")
    parser.add_argument("--drain-timeout", type=float, default=120.0, help="seconds to wait for handling")
    parser.add_argument("--role", choices=["bare", "fake-line"], help=argparse.SUPPRESS)
    parser.add_argument("--tokens", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role is not None:
        # Ctrl-C reaches the whole process group: the helpers stay up until the parent closes
        # their stdin, so that madoguchi can finish its deliveries to the fake LINE as it stops.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        if args.role == "bare":
            asyncio.run(_bare_role())
        elif args.role == "fake-line":
            asyncio.run(_fake_line_role(args.users, args.tokens, args.out))
        else:
            asyncio.run(_main(args))
    except KeyboardInterrupt:
        return 130
    except asyncio.CancelledError:  # SIGTERM
        return 143
    return 0


async def _main(args: argparse.Namespace) -> None:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    await run(args)


if __name__ == "__main__":
    sys.exit(main())
