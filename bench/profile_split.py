"""Where the event loop's CPU goes, from a py-spy profile of `madoguchi serve` (docs/performance.md).

    py-spy record -p <pid of serve> -d 25 -r 100 --gil -f raw -o serve.raw   # while bench/e2e.py runs
    python bench/profile_split.py serve.raw

py-spy (`pip install py-spy`, not a dependency of the project) writes one line per distinct stack,
`frame;frame;...;frame count`. This script keeps the event loop's thread (the process's main one:
its stacks start in runpy) and puts each sample in one category by the innermost frame that names
one: HTTP server, signature, JSON, SDK models, flow, SQL, outgoing HTTP, logging, the bot's own
runtime; anything else (asyncio, selectors, threading) is the event loop itself. SQLite's own work
runs in aiosqlite's threads without the GIL: e2e.py reports their CPU from /proc instead.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("logging", ("logging/__init__", "bot/logs.py")),
    ("signature check", ("hmac.py", "hashlib", "bot/line/webhook.py")),
    ("JSON", ("json/",)),
    (
        "SDK models",
        ("linebot/v3/messaging/models", "linebot/v3/webhooks/models", "pydantic", "bot/line/render.py"),
    ),
    (
        "outgoing HTTP",
        (
            "aiohttp/client",
            "aiohttp/connector",
            "aiohttp/helpers",
            "yarl",
            "multidict",
            "linebot/v3/messaging/async_rest",
            "linebot/v3/messaging/async_api_client",
            "linebot/v3/messaging/api/",
            "bot/line/api.py",
            "bot/line/sender.py",
        ),
    ),
    (
        "HTTP server",
        ("aiohttp/web", "aiohttp/http_", "aiohttp/streams", "aiohttp/base_protocol", "bot/server.py"),
    ),
    ("SQL", ("aiosqlite", "sqlite3", "storage/")),
    ("flow", ("flows/",)),
    (
        "workers, handler, outbox bookkeeping",
        (
            "bot/inbox",
            "bot/outbox",
            "bot/line/handler",
            "bot/citizen",
            "bot/ingest",
            "bot/service",
            "bot/runtime",
            "bot/clock",
            "bot/delivery",
            "bot/metrics",
        ),
    ),
)
EVENT_LOOP = "event loop (asyncio, wake-ups)"


def category(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, marks in CATEGORIES:
            if any(mark in frame for mark in marks):
                return name
    return EVENT_LOOP


def split(raw: str) -> tuple[Counter[str], int]:
    """Samples of the event loop's thread by category, and how many there were (imports left out)."""
    counts: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, number = line.rpartition(" ")
        frames = stack.split(";")
        if not frames[0].startswith("_run_module_as_main") or any("_find_and_load" in f for f in frames):
            continue
        counts[category(frames)] += int(number)
    return counts, sum(counts.values())


def main(path: str) -> None:
    counts, total = split(Path(path).read_text(encoding="utf-8"))
    print(f"event loop thread: {total} samples")
    print("| where | share |")
    print("|---|---:|")
    for name, count in counts.most_common():
        print(f"| {name} | {100 * count / max(total, 1):.0f} % |")


if __name__ == "__main__":
    main(sys.argv[1])
