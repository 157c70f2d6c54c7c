"""`madoguchi demo` as a real process on a free loopback port, for the page and browser tests."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.conftest import ROOT


@dataclass
class DemoProcess:
    process: subprocess.Popen[str]
    url: str

    def stop(self) -> tuple[int, str]:
        """Ctrl-C, as a person would; the exit status and what it wrote to stderr."""
        self.process.send_signal(signal.SIGINT)
        try:
            _, err = self.process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
            raise AssertionError(f"the demo did not stop on SIGINT:\n{err}") from None
        return self.process.returncode, err


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_demo(*args: str) -> DemoProcess:
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "demo", "--port", str(free_port()), *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        found = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
        if found:
            return DemoProcess(process, found.group(1))
    process.kill()
    _, err = process.communicate()
    raise AssertionError(f"the demo did not start:\n{err}")


@pytest.fixture
def demo() -> Iterator[DemoProcess]:
    running = start_demo()
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.stop()
