"""What a conversation keeps between two messages: a typed class for each kind, with one serialiser.

Each flow keeps its state in a frozen dataclass (the intake's `engine.State`, the deletion question's
`DeleteQuestion`, the follow-up question's `WhichCase`, the event list's...) and nowhere else: `save`
writes one into the citizen's conversation row and `read` gets it back. They are the only code that
turns these classes into the stored JSON and back, so a misspelt flag is an attribute the type checker
rejects, and a stored state that does not fit its class (an older version's row, a damaged file) is
refused with `BadState`; the front desk then starts afresh instead of acting on half a state.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from storage.conversations import Conversation
from storage.repositories import Repositories

T = TypeVar("T")


class BadState(ValueError):
    """A stored conversation whose data does not fit the class its flow keeps."""


_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {}


def _adapter(cls: type[Any]) -> TypeAdapter[Any]:
    adapter = _ADAPTERS.get(cls)
    if adapter is None:
        adapter = _ADAPTERS[cls] = TypeAdapter(cls)
    return adapter


def dump(state: object) -> dict[str, Any]:
    """The JSON-ready form of a state."""
    data = _adapter(type(state)).dump_python(state, mode="json")
    assert isinstance(data, dict)
    data.pop("step", None)  # the conversation row keeps the step in a column of its own
    return data


def load(cls: type[T], data: Mapping[str, Any], step: str = "") -> T:
    """A state of this class from its stored form (`step` from the conversation row, for classes
    that have one); `BadState` when the data does not fit."""
    try:
        return _adapter(cls).validate_python({**data, "step": step})  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise BadState(f"{cls.__name__}: {exc.error_count()} fields do not fit") from None


def read(cls: type[T], conversation: Conversation) -> T:
    return load(cls, conversation.data, conversation.step)


async def save(
    tx: Repositories,
    user_id: int,
    flow: str,
    step: str,
    state: object,
    now: datetime,
    *,
    started_at: datetime | None = None,
) -> None:
    """Keep a conversation's state: `flow` and `step` say where the citizen stands, `state` the rest."""
    conversation = Conversation(user_id, flow, step, started_at or now, now, data=dump(state))
    await tx.conversations.save(conversation)
