"""How long, and how many LINE requests, it takes to remind N registrants of one event.

    python bench/reminders.py                  # N=10000, 3 runs
    python bench/reminders.py --registrants 1201 --runs 1

The fake LINE (`bot.sandbox.fake_line.FakeLine`, strict: ≤500 recipients per multicast, retry keys,
quota) runs in a child process of its own. In this process: a fresh SQLite file with one event and N
registered citizens, then the real reminder path of `serve` — `ReminderService.run` (the sweep: claim
the due reminder and queue its multicast rows in one transaction) and the `OutboxWorker` with the
`LineSender` (the real SDK client over HTTP) until every row is sent. Printed next to the theoretical
minimum under LINE's limits: ceil(N / 500) multicast requests, at most 200 requests/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from webhook_ack import TOKEN, bot_config, cpu_model, load_average  # noqa: E402  (the same bot configuration)

from bot.config import load_settings  # noqa: E402
from bot.delivery import RetryPolicy  # noqa: E402
from bot.line.api import MULTICAST_MAX_RECIPIENTS, LineApi  # noqa: E402
from bot.line.sender import LineSender  # noqa: E402
from bot.outbox_worker import OutboxWorker  # noqa: E402
from bot.reminders import ReminderService  # noqa: E402
from flows.texts import Texts  # noqa: E402
from storage import Database  # noqa: E402
from storage.events import EventDraft  # noqa: E402

MULTICAST = "/v2/bot/message/multicast"
LINE_MULTICAST_PER_SECOND = 200


async def _fake_line_role() -> None:
    """The child: serve the fake LINE until stdin closes, then print what it received as JSON."""
    from bot.sandbox.fake_line import FakeLine

    async with FakeLine(access_token=TOKEN, quota=10_000_000) as line:
        print(line.base_url, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        multicasts = line.find_requests(path=MULTICAST)
        reached = [u for m in line.sent_messages() if isinstance(m.to, list) for u in m.to]
        print(
            json.dumps(
                {
                    "requests": len(line.requests),
                    "multicasts": len(multicasts),
                    "statuses": sorted({r.status for r in multicasts}),
                    "pushes": len(line.find_requests(path="/v2/bot/message/push")),
                    "reached": len(reached),
                    "distinct": len(set(reached)),
                }
            ),
            flush=True,
        )


class _Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def _run_once(registrants: int) -> dict[str, float | int | str]:
    child = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--role=fake-line",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert child.stdout is not None and child.stdin is not None
    base_url = (await child.stdout.readline()).decode().strip()
    with tempfile.TemporaryDirectory(prefix="madoguchi-bench-") as tmp:
        settings = load_settings(bot_config(Path(tmp), base_url), environ={})
        now = datetime.now(UTC)
        starts = now + timedelta(days=2)
        clock = _Clock(now)
        db = await Database.open(settings.database_path)
        try:
            async with db.transaction() as tx:
                event = await tx.events.upsert(
                    EventDraft(
                        uid="bench", kind="salon", title="ミズベサロン", starts_at=starts, venue="スペースA"
                    ),
                    now,
                )
                for n in range(registrants):
                    user = await tx.users.ensure(f"U{n:032x}", now)
                    await tx.registrations.put(event.id, user.id, "registered", 1, now)
            texts = Texts.load()
            async with LineApi(settings.line) as api:
                reminders = ReminderService(db, settings, texts, clock, line=api)
                await reminders.run()  # creates the event's reminder rows (not measured)
                clock.now = starts - timedelta(days=1)  # the 1-day reminder is due
                worker = OutboxWorker(
                    db,
                    clock,
                    {"line": LineSender(api, db, clock)},
                    RetryPolicy(max_attempts=3, base_delay=0.05),
                )
                finished = asyncio.Event()

                async def on_final(*_: object) -> None:
                    finished.set()

                worker.on_final.append(on_final)
                worker.start()
                started = time.perf_counter()
                batches = await reminders.run()
                queued_at = time.perf_counter() - started
                worker.wake()
                while await db.read.outbox.count("pending"):
                    finished.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(finished.wait(), 0.05)
                elapsed = time.perf_counter() - started
                await worker.stop()
            sent = await db.read.outbox.count("sent")
        finally:
            await db.close()
    child.stdin.close()
    stats = json.loads((await child.stdout.readline()).decode())
    await child.wait()
    return {
        "batches": batches,
        "queued_s": queued_at,
        "elapsed_s": elapsed,
        "rows_sent": sent,
        **stats,
    }


async def main(registrants: int, runs: int) -> None:
    minimum = math.ceil(registrants / MULTICAST_MAX_RECIPIENTS)
    print(
        f"{datetime.now(UTC):%Y-%m-%d}, {platform.machine()} {cpu_model()} x{os.cpu_count()},"
        f" Python {platform.python_version()}, load average {load_average()}"
    )
    print(f"remind {registrants:,} registrants of one event through the fake LINE (child process)")
    print(
        f"theoretical minimum under LINE's limits: {minimum} multicast requests of ≤{MULTICAST_MAX_RECIPIENTS}"
        f" (at {LINE_MULTICAST_PER_SECOND} requests/s: {minimum / LINE_MULTICAST_PER_SECOND:.2f} s)\n"
    )
    floor = minimum / LINE_MULTICAST_PER_SECOND
    print(
        "| run | claimed + queued | all delivered | ratio to LINE's floor (goal ≤ 2) | multicast requests"
        " | minimum | pushes | reached (distinct) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for run in range(1, runs + 1):
        r = await _run_once(registrants)
        print(
            f"| {run} | {float(r['queued_s']) * 1000:.0f} ms | {float(r['elapsed_s']) * 1000:.0f} ms"
            f" | {float(r['elapsed_s']) / floor:.1f} | {r['multicasts']} (HTTP {r['statuses']}) | {minimum} | {r['pushes']}"
            f" | {r['reached']:,} ({r['distinct']:,}) |"
        )
    print(f"load average at the end {load_average()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--registrants", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--role", choices=["fake-line"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "fake-line":
        asyncio.run(_fake_line_role())
    else:
        asyncio.run(main(args.registrants, args.runs))
