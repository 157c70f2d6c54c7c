"""Replies staff composed in the Slack modal, kept between the preview and the confirmation.

The modal itself carries only the draft's id (Slack's private_metadata holds 3,000 characters at most),
so the text the preview showed is exactly the text that is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.base import Repository, from_row
from storage.timefmt import to_db

# A draft nobody confirmed within this long is deleted (the next draft anyone writes cleans up).
DRAFT_LIFETIME = timedelta(days=1)


@dataclass(frozen=True)
class ReplyDraft:
    id: int
    case_id: int
    author: str
    text: str
    created_at: datetime


class ReplyDraftRepository(Repository):
    async def create(self, case_id: int, author: str, text: str, now: datetime) -> ReplyDraft:
        await self._run("DELETE FROM reply_drafts WHERE created_at < ?", (to_db(now - DRAFT_LIFETIME),))
        draft_id = await self._insert(
            "reply_drafts", {"case_id": case_id, "author": author, "text": text, "created_at": now}
        )
        draft = await self.get(draft_id)
        assert draft is not None
        return draft

    async def get(self, draft_id: int) -> ReplyDraft | None:
        row = await self._one("SELECT * FROM reply_drafts WHERE id = ?", (draft_id,))
        return None if row is None else from_row(ReplyDraft, row)

    async def delete(self, draft_id: int) -> bool:
        return await self._run("DELETE FROM reply_drafts WHERE id = ?", (draft_id,)) == 1

    async def delete_for_case(self, case_id: int) -> int:
        """Drafts of answers on a case whose personal data is removed (a draft may name the person)."""
        return await self._run("DELETE FROM reply_drafts WHERE case_id = ?", (case_id,))
