"""Structured logs: one event per line, `key=value` pairs.

Log calls name an event and pass fields: `log.info("server.started", extra=fields(port=8080))`.
Message bodies, names and secrets are never passed as fields; third-party loggers that may print
request bodies (the SDKs at DEBUG) are held at WARNING.
"""

from __future__ import annotations

import logging
import sqlite3
import sys
import traceback
from datetime import UTC, datetime
from typing import Any, TextIO

from aiohttp.http_exceptions import HttpProcessingError

# Exceptions whose messages speak of the machine, not of anyone's message; every other exception's
# message is left out of the log, since SDK and validation errors quote the data they refused.
_SAFE_MESSAGES = (sqlite3.Error, OSError, TimeoutError, UnicodeError)

_QUIET = ("slack_sdk", "slack_bolt", "linebot", "aiohttp.access", "apscheduler", "aiosqlite", "asyncio")


def fields(**values: Any) -> dict[str, Any]:
    """The `extra=` argument of a log call."""
    return {"fields": values}


def _quote(value: Any) -> str:
    text = str(value)
    if text == "" or any(c in text for c in ' ="\n\\'):
        text = '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        at = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        parts = [f"ts={at}", f"level={record.levelname.lower()}", f"logger={record.name}"]
        parts.append(f"event={_quote(record.getMessage())}")
        for key, value in getattr(record, "fields", {}).items():
            parts.append(f"{key}={_quote(value)}")
        if record.exc_info and record.exc_info[1] is not None:
            parts.append(f"error={_quote(type(record.exc_info[1]).__name__)}")
            # The traceback stays on the same line so that one event is one line.
            parts.append(f"traceback={_quote(_traceback(record.exc_info[1]))}")
        return " ".join(parts)


class _ServerErrors(logging.Filter):
    """aiohttp's "Error handling request from <address>", rewritten.

    A request aiohttp cannot parse (a header line over 8190 bytes, a control character in a header
    name, garbage on a kept-alive connection) is answered 400 before any route sees it, and logged
    at ERROR with a traceback: anyone on the internet could fill the log with alarms. Such a refusal
    becomes one WARNING line with the status and the error's type. A failure of our own handlers
    (the 500s) stays an ERROR with its traceback. Neither names the client's address.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg != "Error handling request from %s":
            return True
        record.args = ()
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            # aiohttp answers every parse error 400 (web_protocol.py, `_ErrInfo(status=400, ...)`).
            record.msg = "server.refused"
            record.fields = {"status": 400, "reason": type(exc).__name__}
            record.exc_info = record.exc_text = None
            # aiohttp logs a first request's bad method at DEBUG: it stays there.
            record.levelno = min(record.levelno, logging.WARNING)
            record.levelname = logging.getLevelName(record.levelno)
        else:
            record.msg = "server.request_failed"
        return True


_SERVER_ERRORS = _ServerErrors()


def setup_logging(level: str = "INFO", stream: TextIO | None = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    # One instance: calling this again does not stack filters (addFilter skips one already there).
    logging.getLogger("aiohttp.server").addFilter(_SERVER_ERRORS)


def _traceback(exc: BaseException) -> str:
    """Where it happened, and the message only when it cannot carry personal data."""
    lines = traceback.format_tb(exc.__traceback__)
    message = str(exc) if isinstance(exc, _SAFE_MESSAGES) else "(message withheld)"
    return "".join(lines) + f"{type(exc).__name__}: {message}"
