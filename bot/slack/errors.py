"""What of a Slack refusal may be logged, shown or stored: Slack's error code, and only that.

The body of an error answer need not be Slack's: a proxy or WAF in front of slack.com may answer with
an `error` that quotes the refused request, a citizen's words in a post or an ephemeral line. Slack's
own codes are short snake_case words (`channel_not_found`); anything else is withheld.
"""

from __future__ import annotations

import re

from slack_sdk.errors import SlackApiError

SLACK_ERROR_CODE = re.compile(r"[a-z0-9_]{1,80}")
UNRECOGNISED = "unrecognised error"


def slack_error_code(exc: SlackApiError) -> str:
    """Slack's error code in the answer, "" when it has none, UNRECOGNISED for any other text."""
    # A JSON body that does not parse leaves the SDK's raw HTTP response here, without `data`.
    data = getattr(exc.response, "data", None)
    error = data.get("error") if isinstance(data, dict) else None
    if not error:
        return ""
    return error if isinstance(error, str) and SLACK_ERROR_CODE.fullmatch(error) else UNRECOGNISED
