"""What staff do to a case: claim, release, reply, note, close, reopen.

Each action changes the case in the caller's transaction, writes the audit log with the staff member,
and says what follows: messages for the citizen, lines for the case thread, whether the card must be
redrawn, or a refusal for the actor alone. Nothing here knows Slack or LINE.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import datetime

from flows.messages import Outgoing, Text
from flows.texts import Texts
from storage.cases import Case
from storage.repositories import Repositories

# Slack keeps a modal's private_metadata under 3,000 characters; the draft travels in it to the preview.
MAX_REPLY = 2000


@dataclass
class StaffResult:
    citizen: list[Outgoing] = field(default_factory=list)
    thread: list[str] = field(default_factory=list)
    card_changed: bool = False
    refused: str | None = None
    # The act kept the staff member's message as an internal note: show that it was not sent.
    kept_as_note: bool = False


async def _audit(
    tx: Repositories, case: Case, actor: str, action: str, now: datetime, **detail: object
) -> None:
    await tx.audit.record(f"slack:{actor}", action, "case", case.id, now, dict(detail))


def _not_claimable(case: Case, actor: str, texts: Texts) -> str | None:
    """Why `actor` cannot claim the case as it stands, or None if they can."""
    if case.status == "closed":
        return texts.get("staff.already_closed")
    if case.assignee == actor:
        return texts.get("staff.already_yours")
    if case.assignee is not None:
        return texts.get("staff.claimed_by_other", assignee=case.assignee)
    return None


async def claim(tx: Repositories, case: Case, actor: str, now: datetime, texts: Texts) -> StaffResult:
    """Claiming is idempotent: only a claim on an unassigned case changes anything (one conditional
    UPDATE, so concurrent clicks have exactly one winner); the same person again, or anybody else,
    is told who has it and nothing is posted."""
    refusal = _not_claimable(case, actor, texts)
    if refusal is not None:
        return StaffResult(refused=refusal)
    if not await tx.cases.claim(case.id, actor, now):
        current = await tx.cases.get(case.id)
        refusal = None if current is None else _not_claimable(current, actor, texts)
        return StaffResult(refused=refusal or texts.get("staff.case_not_found"))
    await _audit(tx, case, actor, "case.claimed", now, previous=case.assignee)
    return StaffResult(thread=[texts.get("staff.claimed", actor=actor)], card_changed=True)


async def unclaim(tx: Repositories, case: Case, actor: str, now: datetime, texts: Texts) -> StaffResult:
    await tx.cases.set_assignee(case.id, None, now)
    await _audit(tx, case, actor, "case.unclaimed", now, previous=case.assignee)
    return StaffResult(thread=[texts.get("staff.unclaimed", actor=actor)], card_changed=True)


async def reply(
    tx: Repositories,
    case: Case,
    actor: str,
    text: str,
    now: datetime,
    texts: Texts,
    *,
    in_thread: bool = False,
) -> StaffResult:
    """An answer for the citizen, sent on LINE only through this explicit act.

    A reply written in a modal is copied into the thread; one written in the thread is already there.
    """
    text = text.strip()
    if not text:
        return StaffResult(refused=texts.get("invalid.empty"))
    if len(text) > MAX_REPLY:
        return StaffResult(refused=texts.get("invalid.too_long", max=MAX_REPLY))
    await tx.cases.add_message(case.id, "reply", text, now, author=actor)
    await tx.cases.set_first_response(case.id, now)
    changed = case.status == "new"
    if changed:
        await tx.cases.set_status(case.id, "in_progress", now)
    await _audit(tx, case, actor, "case.replied", now, length=len(text))
    citizen = Text(texts.get("staff_to_citizen.reply", number=case.number, text=text))
    thread = [] if in_thread else [texts.get("staff.replied", actor=actor, text=text)]
    return StaffResult(
        citizen=[citizen], thread=thread, card_changed=changed or case.first_response_at is None
    )


async def note(tx: Repositories, case: Case, actor: str, text: str, now: datetime) -> StaffResult:
    """An internal note: kept with the case, never sent to the citizen (and marked as such)."""
    await tx.cases.add_message(case.id, "note", text, now, author=actor)
    await _audit(tx, case, actor, "case.noted", now)
    return StaffResult(kept_as_note=True)


def _match_key(text: str) -> str:
    """What prefix matching compares: NFKC (a full-width `：` is `:`), no whitespace (U+3000 included),
    case folded."""
    return "".join(c for c in unicodedata.normalize("NFKC", text) if not c.isspace()).casefold()


def reply_body(text: str, prefix: str) -> str | None:
    """The answer in a thread message that starts with the reply prefix, else None (a note).

    Japanese keyboards type `返信：`, people put spaces before the text or around the colon (`返信 :`,
    `　返信：　…`): only the matching is normalised; the answer keeps its original characters.
    """
    want = _match_key(prefix)
    got = ""
    for i, char in enumerate(text):
        got += _match_key(char)
        if got == want and want:
            return text[i + 1 :]
        if not want.startswith(got):
            return None
    return None


def looks_like_reply(text: str, prefix: str) -> bool:
    """A note that starts like the reply prefix without being it (`返信 お世話に…`, `返信。`): its author
    probably meant to answer, so they are told plainly that it was not sent."""
    stem = _match_key(prefix).rstrip(":")
    return bool(stem) and _match_key(text).startswith(stem)


async def close(
    tx: Repositories, case: Case, actor: str, message: str, now: datetime, texts: Texts
) -> StaffResult:
    if case.status == "closed":
        return StaffResult(refused=texts.get("staff.already_closed"))
    await tx.cases.set_status(case.id, "closed", now)
    message = message.strip()
    if message:
        await tx.cases.add_message(case.id, "reply", message, now, author=actor)
        citizen_text = texts.get("staff_to_citizen.closed_with_message", number=case.number, text=message)
    else:
        citizen_text = texts.get("staff_to_citizen.closed", number=case.number)
    await _audit(tx, case, actor, "case.closed", now, with_message=bool(message))
    return StaffResult(
        citizen=[Text(citizen_text)], thread=[texts.get("staff.closed_note", actor=actor)], card_changed=True
    )


async def reopen(tx: Repositories, case: Case, actor: str, now: datetime, texts: Texts) -> StaffResult:
    if case.status != "closed":
        return StaffResult(refused=texts.get("staff.not_closed"))
    await tx.cases.set_status(case.id, "in_progress", now)
    await _audit(tx, case, actor, "case.reopened", now)
    return StaffResult(
        citizen=[Text(texts.get("staff_to_citizen.reopened", number=case.number))],
        thread=[texts.get("staff.reopened_note", actor=actor)],
        card_changed=True,
    )
