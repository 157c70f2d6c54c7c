"""What every handler of a citizen's event gets and gives back: the context and the reply.

Kept apart from the front desk (flows/desk.py) so that command handlers in other modules
(flows/events.py) and the command registry (flows/commands.py) use them without importing the desk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Literal

from flows.business_hours import BusinessCalendar
from flows.contact import Contact
from flows.faq import Faq, default_faq
from flows.messages import Outgoing
from flows.texts import Texts


@dataclass(frozen=True)
class DeskContext:
    texts: Texts
    center_name: str
    now: datetime
    timezone: tzinfo
    categories: tuple[tuple[str, str], ...]
    answer_days: int
    keep_draft_days: int
    calendar: BusinessCalendar | None = None
    reopen_within_days: int = 0
    contact: Contact = field(default_factory=Contact)
    faq: Faq = field(default_factory=default_faq)
    # The privacy notice ([privacy]): its version (recorded with each agreement), the link to the
    # full policy ("" for none), and the retention of closed cases it states.
    notice_version: str = "1"
    policy_url: str = ""
    retention_days: int = 1095
    # Kinds of events ([[events.kinds]]): (id, label), in the configured order (配信設定 lists them).
    event_kinds: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class StaffEvent:
    """Something the staff side must show: a new case, or a citizen's follow-up on one."""

    # case_linked: the case was linked to a consultation-session booking (its card shows it).
    # case_unsent: the citizen unsent a follow-up (`message_id`); its body was cleared.
    kind: Literal[
        "case_created", "case_followup", "case_reopened", "case_anonymised", "case_linked", "case_unsent"
    ]
    case_id: int
    message_id: int | None = None


@dataclass(frozen=True)
class Notify:
    """Messages for another citizen than the one answered (pushed): the first on an event's
    waitlist, told they got the seat someone else gave up."""

    user_id: int
    messages: tuple[Outgoing, ...]


@dataclass
class Reply:
    messages: list[Outgoing] = field(default_factory=list)
    staff: list[StaffEvent] = field(default_factory=list)
    # The citizen's data was deleted: whatever was waiting to be sent to them is cancelled, and
    # `messages` (the confirmation) are the last they get.
    forgotten: bool = False
    notify: list[Notify] = field(default_factory=list)
