"""The way to Slack: the proxy the environment names for the Slack API URL, `NO_PROXY` included, as
for LINE (bot/line/api.py `environment_proxy`: looked up once at start, credentials from the URL or
`~/.netrc`, kept out of the proxy's URL so never in an error's text).

slack_sdk reads `HTTPS_PROXY`/`HTTP_PROXY` itself and ignores `NO_PROXY`, in every client it builds:
ours, the one Bolt builds for each request (its auth.test), the Socket Mode client; and an empty
`proxy` means "read the environment", so no argument can say "no proxy". The decision is therefore
the session's: every request made through it goes through the proxy found here, or directly when
there is none, whatever proxy slack_sdk names.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from bot.line.api import environment_proxy


def slack_session(api_url: str, timeout: float = 300.0) -> aiohttp.ClientSession:
    """A session for Slack's clients (in the running loop): the proxy for `api_url` or none, and
    `timeout` seconds for a whole request (slack_sdk sets none on a session it is given)."""
    proxy, credentials = environment_proxy(api_url)

    class Routed(aiohttp.ClientRequest):
        def update_proxy(
            self,
            _named: URL | None,
            _named_auth: aiohttp.BasicAuth | None,
            headers: CIMultiDict[str] | Any,
        ) -> None:
            super().update_proxy(proxy, credentials, headers if proxy is not None else None)

    return aiohttp.ClientSession(
        trust_env=False, timeout=aiohttp.ClientTimeout(total=timeout), request_class=Routed
    )
