"""Reading a request body for the webhooks: bounded in size and time, a disconnect no error."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web

Refuse = Callable[[int, str], web.Response]


async def read_body(
    request: web.Request, max_bytes: int, timeout_seconds: float, refuse: Refuse
) -> bytes | web.Response:
    """The raw body, or the answer that refuses it (413 too large, 408 too slow, 400 client gone).

    `refuse(status, reason)` makes (and logs) the refusal in the caller's own words.
    """
    if request.content_length is not None and request.content_length > max_bytes:
        return refuse(413, "body too large")
    try:
        async with asyncio.timeout(timeout_seconds):
            return await request.read()
    except web.HTTPRequestEntityTooLarge:
        return refuse(413, "body too large")
    except TimeoutError:
        response = refuse(408, "body not received in time")
        response.force_close()  # the rest of the body may still trickle in: do not read it as a request
        return response
    except ConnectionResetError:
        # The client went away mid-body: nothing arrived, and nobody is left to answer.
        return refuse(400, "client disconnected")
