"""Conversations left hanging: one nudge, then suspension as a draft, then deletion.

Run periodically with the current time; returns what to tell each citizen. Held follow-up
messages (the citizen never said which case they were about) are filed, never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from flows import intake
from flows.desk import FOLLOWUP_FLOW, DeskContext, Reply, file_held
from flows.engine import CANCEL, RESUME
from flows.messages import Choice, Text
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
    now = ctx.now
    texts = ctx.texts
    notices: list[IdleNotice] = []
    for user_id in await tx.conversations.idle_since(now - policy.nudge_after):
        conversation = await tx.conversations.get(user_id)
        user = await tx.users.get(user_id)
        if conversation is None or user is None:
            continue
        idle = now - conversation.updated_at
        if conversation.flow == FOLLOWUP_FLOW:
            notices.append(IdleNotice(user, await file_held(conversation, user, tx, ctx)))
        elif conversation.flow != intake.NAME:
            await tx.conversations.delete(user_id)
        elif conversation.data.get("draft"):
            if idle >= policy.keep_draft:
                await tx.conversations.delete(user_id)  # the draft's keeping period is over
        elif idle >= policy.expire_after:
            draft = replace(conversation, updated_at=now, data={**conversation.data, "draft": True})
            await tx.conversations.save(draft)
            days = policy.keep_draft.days
            notices.append(IdleNotice(user, Reply([Text(texts.get("flow.expired", days=days))])))
        elif conversation.nudged_at is None:
            await tx.conversations.save(replace(conversation, nudged_at=now))
            choices = (Choice(texts.get("flow.resume"), RESUME), Choice(texts.get("flow.cancel"), CANCEL))
            notices.append(IdleNotice(user, Reply([Text(texts.get("flow.nudge"), choices=choices)])))
    return notices


def idle_policy(nudge_after_minutes: int, expire_after_hours: int, keep_draft_days: int) -> IdlePolicy:
    return IdlePolicy(
        nudge_after=timedelta(minutes=nudge_after_minutes),
        expire_after=timedelta(hours=expire_after_hours),
        keep_draft=timedelta(days=keep_draft_days),
    )
