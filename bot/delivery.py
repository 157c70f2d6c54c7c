"""What a delivery attempt came to, and when to try again.

Senders (one per channel) turn platform answers into an Outcome; the outbox worker records it.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from storage import Repositories
from storage.outbox import OutboxMessage


@dataclass(frozen=True)
class Delivered:
    """`record`, when given, stores what the platform answered (a posted card's ts) in the same
    transaction that marks the row sent: if storage fails, both are kept and recorded later, and the
    message is not sent again."""

    via: str
    record: Callable[[Repositories], Awaitable[None]] | None = None


@dataclass(frozen=True)
class Retry:
    """Worth another try (5xx, 429, timeout, dropped connection). `after` is a server's Retry-After."""

    reason: str
    after: float | None = None
    drop_reply_token: bool = False


@dataclass(frozen=True)
class Final:
    """The platform refused the message for good (4xx other than 429), or it must not be sent.

    `cancelled`: not a refusal but a row held back (no alert): only this row is cancelled, unless
    `whole_key` too, when the recipient is gone (unfollowed) and every pending row of its order key is
    cancelled with it. A row held back for a reason of its own (an announcement no longer to be sent)
    must not take the citizen's other messages queued behind it along."""

    reason: str
    cancelled: bool = False
    whole_key: bool = False


Outcome = Delivered | Retry | Final


class Sender(Protocol):
    async def send(self, message: OutboxMessage) -> Outcome: ...


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base_delay: float = 1.0
    max_delay: float = 300.0

    def delay(self, attempts: int, rng: random.Random, server_hint: float | None = None) -> float:
        """Exponential backoff with jitter after `attempts` failed tries (1 = first failure).

        Half the delay is fixed and half random, so clients that failed together spread out without
        any of them retrying at once. A server's Retry-After is a floor.
        """
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempts - 1))
        delay = ceiling / 2 + rng.uniform(0, ceiling / 2)
        return float(max(delay, server_hint or 0.0))
