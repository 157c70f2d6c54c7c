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

# The longest answer staff may send, in characters. Slack's text input takes up to 3,000; the preview
# shows the whole message the citizen gets (with its header) in one section, which holds 3,000; LINE
# takes 5,000 UTF-16 units in one text. 2,000 fits all three with room to spare, even if every
# character is an emoji (two UTF-16 units). The draft itself waits in storage (reply_drafts), not in
# the modal.
MAX_REPLY = 2000
LINE_TEXT_UTF16 = 5000


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def citizen_reply(case: Case, text: str, texts: Texts) -> str:
    """Exactly what the citizen receives for an answer: the header with the case number, then the text."""
    return texts.get("staff_to_citizen.reply", number=case.number, text=text.strip())


def reply_problem(case: Case, text: str, texts: Texts) -> str | None:
    """Why this answer cannot be sent as it is (empty, too long), or None. Checked when the modal is
    first submitted, so staff fix it there, and again when it is sent."""
    text = text.strip()
    if not text:
        return texts.get("invalid.empty")
    if len(text) > MAX_REPLY or utf16_len(citizen_reply(case, text, texts)) > LINE_TEXT_UTF16:
        return texts.get("staff.reply_too_long", length=len(text), max=MAX_REPLY)
    return None


@dataclass
class StaffResult:
    citizen: list[Outgoing] = field(default_factory=list)
    thread: list[str] = field(default_factory=list)
    card_changed: bool = False
    refused: str | None = None
    # The act kept the staff member's message as an internal note: show that it was not sent.
    kept_as_note: bool = False
    # A reply or closing message written outside the thread (a modal), for the staff surface to copy
    # into the thread, quoted as that surface needs (staff text can hold markup).
    reply_copy: str | None = None


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
    """Release the case; a second click (or a colleague's at the same moment) changes nothing."""
    if case.assignee is None or not await tx.cases.unclaim(case.id, case.assignee, now):
        return StaffResult(refused=texts.get("staff.not_claimed"))
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
    problem = reply_problem(case, text, texts)
    if problem is not None:
        return StaffResult(refused=problem)
    text = text.strip()
    await tx.cases.add_message(case.id, "reply", text, now, author=actor)
    await tx.cases.set_first_response(case.id, now)
    changed = case.status == "new"
    if changed:
        await tx.cases.set_status(case.id, "in_progress", now)
    await _audit(tx, case, actor, "case.replied", now, length=len(text))
    citizen = Text(citizen_reply(case, text, texts))
    return StaffResult(
        citizen=[citizen],
        reply_copy=None if in_thread else text,
        card_changed=changed or case.first_response_at is None,
    )


async def save_draft(
    tx: Repositories, case: Case, actor: str, text: str, now: datetime, texts: Texts
) -> int | str:
    """The first step of a modal reply: the draft's id once it is stored, or why it cannot be sent
    (so the modal says so at once, before any preview)."""
    problem = reply_problem(case, text, texts)
    if problem is not None:
        return problem
    return (await tx.reply_drafts.create(case.id, actor, text.strip(), now)).id


async def reply_from_draft(
    tx: Repositories, case: Case, actor: str, draft_id: int, now: datetime, texts: Texts
) -> StaffResult:
    """The confirmation: send exactly the stored draft the preview showed, once. Only its author's
    confirmation of a draft for this case counts."""
    draft = await tx.reply_drafts.get(draft_id)
    if draft is None or draft.case_id != case.id or draft.author != actor:
        return StaffResult(refused=texts.get("staff.draft_gone"))
    result = await reply(tx, case, actor, draft.text, now, texts)
    if result.refused is None:
        await tx.reply_drafts.delete(draft.id)
    return result


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
    # The closing message is written in the modal: copied into the thread like a modal reply, so the
    # thread shows everything the citizen was told.
    return StaffResult(
        citizen=[Text(citizen_text)],
        thread=[texts.get("staff.closed_note", actor=actor)],
        card_changed=True,
        reply_copy=message or None,
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
