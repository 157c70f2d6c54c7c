"""Images sent together get one answer: the image set remembered with the citizen's conversation.

When a citizen sends several images at once, LINE delivers one event per image, each naming the set
(`Inbound.image_set`); they may come in separate webhooks and in any order. Every image is handled as
before (kept with the case and forwarded to staff, held for "which case?", or not kept), but only the
first of a set to be handled says anything to the citizen. Which one that is cannot be known from the
set itself: index 1 may come last or never, and `index` is missing from older Android clients. So the
set is remembered once answered, in the same transaction as the answer: a later image of the set, a
redelivery or another arrival order is handled in silence, and a set of which only some images arrive
is still answered once.

The rest of a set goes where the citizen put the set. With each set is kept the LINE message id of
its image that was answered and, once that image is kept with a case, the case: in the same
transaction when it is filed at once, or when the citizen answers "which case?" for it (or moves on
and it goes with the newest case). A later image of the set then goes with that case, in silence,
whatever conversation is open (the intake and the deletion question aside): it never opens
a which-case question of its own. A set whose answered image was not kept (no open case, mid-intake)
has no case, and its later images are handled as any image.

What is remembered is kept in the citizen's conversation row, under `KEY` in its data, whatever
conversation that is (an intake, the which-case question ...), and carried over when a flow rewrites
or ends its conversation. Without any conversation, a row of its own (`FLOW`) holds it, which the desk
reads as no conversation at all. A set is forgotten `REMEMBER` after it was answered (images of one
set arrive within seconds), and with the row: the idle sweep drops a row of `FLOW` like any
conversation left idle, and a deletion on request leaves nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from flows import state as state_io
from storage.conversations import Conversation
from storage.repositories import Repositories

FLOW = "image_sets"
KEY = "image_sets"
REMEMBER = timedelta(hours=1)
# LINE's set ids are 64 hex digits; anything much longer is not one, and the row stays small.
ID_MAX = 128
KEPT_MAX = 20


@dataclass(frozen=True)
class Answered:
    """One image set the citizen was answered for, and when."""

    id: str
    at: datetime
    first: str = ""  # the LINE message id of the image answered for
    case: int | None = None  # the case that image was kept with, once it was


@dataclass(frozen=True)
class Sets:
    answered: tuple[Answered, ...] = ()


def usable(set_id: str) -> bool:
    """A set id worth remembering; an image with no usable one is answered on its own."""
    return 0 < len(set_id) <= ID_MAX


def remembered(conversation: Conversation | None, now: datetime) -> Sets:
    """The sets answered within `REMEMBER`, as kept with the conversation. What does not fit (a
    damaged row) is forgotten, not the conversation it rides with: at worst a set is answered twice."""
    if conversation is None or KEY not in conversation.data:
        return Sets()
    try:
        sets = state_io.load(Sets, {"answered": conversation.data[KEY]})
    except state_io.BadState:
        return Sets()
    return Sets(tuple(a for a in sets.answered if now - a.at < REMEMBER))


def answered(sets: Sets, set_id: str) -> bool:
    return any(a.id == set_id for a in sets.answered)


def case_of(sets: Sets, set_id: str) -> int | None:
    """The case the set was kept with, if it was."""
    return next((a.case for a in sets.answered if a.id == set_id), None)


def adding(sets: Sets, set_id: str, first: str, now: datetime) -> Sets:
    """`set_id` answered now for its image `first` (in place of what was known of it before)."""
    kept = tuple(a for a in sets.answered if a.id != set_id)
    return Sets((*kept, Answered(set_id, now, first))[-KEPT_MAX:])


def unfiled(sets: Sets) -> frozenset[str]:
    """The images answered for whose case is not known yet."""
    return frozenset(a.first for a in sets.answered if a.case is None and a.first)


def filing(sets: Sets, cases: dict[str, int]) -> Sets:
    """`cases`: the case each image (by LINE message id) was just kept with."""
    return Sets(
        tuple(
            replace(a, case=cases[a.first]) if a.case is None and a.first in cases else a
            for a in sets.answered
        )
    )


async def keep(tx: Repositories, user_id: int, sets: Sets, now: datetime) -> None:
    """Keep `sets` with whatever conversation the citizen has now (as the flow just left it), or in a
    row of their own; with nothing left to remember, a row of `FLOW` goes."""
    current = await tx.conversations.get(user_id)
    if not sets.answered:
        if current is not None and current.flow == FLOW:
            await tx.conversations.delete(user_id)
        elif current is not None and KEY in current.data:
            data = {k: v for k, v in current.data.items() if k != KEY}
            await tx.conversations.save(replace(current, data=data))
        return
    stored: list[dict[str, Any]] = state_io.dump(sets)["answered"]
    if current is None or current.flow == FLOW:
        await tx.conversations.save(Conversation(user_id, FLOW, "answered", now, now, data={KEY: stored}))
    elif current.data.get(KEY) != stored:
        await tx.conversations.save(replace(current, data={**current.data, KEY: stored}))
