"""All repositories bound to one connection, handed out by `Database.transaction()` and `Database.read`."""

from __future__ import annotations

from storage.audit import AuditRepository
from storage.base import Statements
from storage.cases import CaseRepository
from storage.conversations import ConversationRepository
from storage.events import EventRepository
from storage.health import HealthRepository
from storage.inbox import InboxRepository
from storage.line_groups import LineGroupRepository
from storage.notices import NoticeRepository
from storage.ops_alerts import OpsAlertRepository
from storage.outbox import OutboxRepository
from storage.questionnaire import QuestionnaireRepository
from storage.registrations import RegistrationRepository
from storage.reminders import ReminderRepository
from storage.reply_drafts import ReplyDraftRepository
from storage.slots import SlotRepository
from storage.subscriptions import AnnouncementRepository, SubscriptionRepository
from storage.users import UserRepository
from storage.wards import WardCenterRepository


class Repositories:
    def __init__(self, conn: Statements) -> None:
        self.users = UserRepository(conn)
        self.conversations = ConversationRepository(conn)
        self.cases = CaseRepository(conn)
        self.events = EventRepository(conn)
        self.registrations = RegistrationRepository(conn)
        self.slots = SlotRepository(conn)
        self.reminders = ReminderRepository(conn)
        self.inbox = InboxRepository(conn)
        self.outbox = OutboxRepository(conn)
        self.wards = WardCenterRepository(conn)
        self.notices = NoticeRepository(conn)
        self.audit = AuditRepository(conn)
        self.line_groups = LineGroupRepository(conn)
        self.reply_drafts = ReplyDraftRepository(conn)
        self.ops_alerts = OpsAlertRepository(conn)
        self.questionnaire = QuestionnaireRepository(conn)
        self.health = HealthRepository(conn)
        self.subscriptions = SubscriptionRepository(conn)
        self.announcements = AnnouncementRepository(conn)
        self.checkpoint_requested = False

    def checkpoint_after_commit(self) -> None:
        """Ask the transaction that handed these out to checkpoint the WAL once it has committed, so
        data cleared in it leaves the database files (see `Database.checkpoint`)."""
        self.checkpoint_requested = True
