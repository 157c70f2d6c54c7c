"""Conversations left hanging: one nudge (the current question asked again), then suspension as a
draft, then deletion.

Run periodically with the current time; returns what to tell each citizen. Held follow-up
messages (the citizen never said which case they were about) are filed, never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from flows import intake
from flows import state as state_io
from flows.desk import FOLLOWUP_FLOW, DeskContext, Reply, file_held, intake_engine
from flows.engine import PENDING_CANCEL, State
from flows.messages import Outgoing, Text
from storage.conversations import Conversation
from storage.repositories import Repositories
from storage.users import User


@dataclass(frozen=True)
class IdlePolicy:
    nudge_after: timedelta
    expire_after: timedelta
    keep_draft: timedelta


@dataclass(frozen=True)
class IdleNotice:
    user: User
    reply: Reply


async def sweep_idle(tx: Repositories, ctx: DeskContext, policy: IdlePolicy) -> list[IdleNotice]:
    notices: list[IdleNotice] = []
    for user_id in await tx.conversations.idle_since(ctx.now - policy.nudge_after):
        conversation = await tx.conversations.get(user_id)
        user = await tx.users.get(user_id)
        if conversation is None or user is None:
            continue
        idle = ctx.now - conversation.updated_at
        try:
            notice = await _sweep_one(conversation, user, idle, tx, ctx, policy)
        except state_io.BadState:  # a state that fits its flow no more: dropped, the sweep goes on
            await tx.conversations.delete(user_id)
            continue
        if notice is not None:
            notices.append(notice)
    return notices


async def _sweep_one(
    conversation: Conversation,
    user: User,
    idle: timedelta,
    tx: Repositories,
    ctx: DeskContext,
    policy: IdlePolicy,
) -> IdleNotice | None:
    now, texts, user_id = ctx.now, ctx.texts, user.id
    if conversation.flow == FOLLOWUP_FLOW:
        return IdleNotice(user, await file_held(conversation, user, tx, ctx))
    if conversation.flow != intake.NAME:
        await tx.conversations.delete(user_id)
        return None
    state = state_io.read(State, conversation)
    if state.draft:
        if idle >= policy.keep_draft:
            await tx.conversations.delete(user_id)  # the draft's keeping period is over
        return None
    if idle >= policy.expire_after:
        draft = replace(state, draft=True)
        await state_io.save(
            tx, user_id, intake.NAME, state.step, draft, now, started_at=conversation.started_at
        )
        return IdleNotice(user, Reply([Text(texts.get("flow.expired", days=policy.keep_draft.days))]))
    if conversation.nudged_at is None:
        await tx.conversations.save(replace(conversation, nudged_at=now))
        return IdleNotice(user, Reply(_nudge(state, ctx)))
    return None


def _nudge(state: State, ctx: DeskContext) -> list[Outgoing]:
    """The question the citizen stopped at, asked again. Not "continue?": nothing is kept that says
    such a question is open, so a typed はい would be taken as the answer to the step (a name), and
    LINE for PC shows no buttons. キャンセル works typed at every step; at "really cancel?" (asked
    again here) it is no answer, so the hint is left out there."""
    lead = ctx.texts.get("flow.nudge")
    if state.pending != PENDING_CANCEL:
        lead += "\n" + ctx.texts.get("flow.nudge_cancel")
    return [Text(lead), *intake_engine(ctx).prompt(state)]


def idle_policy(nudge_after_minutes: int, expire_after_hours: int, keep_draft_days: int) -> IdlePolicy:
    return IdlePolicy(
        nudge_after=timedelta(minutes=nudge_after_minutes),
        expire_after=timedelta(hours=expire_after_hours),
        keep_draft=timedelta(days=keep_draft_days),
    )
