"""Every repository round-trips its dataclasses through SQLite."""

from __future__ import annotations

from datetime import timedelta

import pytest

from storage import Database
from storage.cases import NewCase
from storage.conversations import Conversation
from storage.events import EventDraft
from storage.inbox import IncomingEvent
from storage.notices import NoticeDraft
from storage.outbox_rows import LineMessages
from storage.wards import WardCenterSpec
from tests.conftest import NOW

LATER = NOW + timedelta(hours=1)


async def test_users(db: Database) -> None:
    async with db.transaction() as tx:
        created = await tx.users.ensure("U1", NOW)
        assert await tx.users.ensure("U1", LATER) == created  # same row, unchanged
        await tx.users.set_display_name(created.id, "山田 花子", LATER)
        await tx.users.set_privacy_agreed(created.id, LATER, LATER)
        unfollowed = await tx.users.mark_unfollowed("U1", LATER)
        assert not unfollowed.following and unfollowed.unfollowed_at == LATER
        refollowed = await tx.users.mark_followed("U1", LATER)
    assert refollowed.following and refollowed.unfollowed_at is None
    user = await db.read.users.get(created.id)
    assert user is not None
    assert (user.display_name, user.privacy_agreed_at, user.created_at) == ("山田 花子", LATER, NOW)
    assert user.display_name_fetched_at == LATER
    assert await db.read.users.by_line_id("U-unknown") is None


async def test_conversations(db: Database) -> None:
    async with db.transaction() as tx:
        user = await tx.users.ensure("U1", NOW)
        conv = Conversation(user.id, "intake", "category", NOW, NOW, data={"name": "山田", "dates": ["12/1"]})
        await tx.conversations.save(conv)
    assert await db.read.conversations.get(user.id) == conv
    moved = Conversation(user.id, "intake", "name", NOW, LATER, nudged_at=LATER, data={"name": "田中"})
    async with db.transaction() as tx:
        await tx.conversations.save(moved)
    assert await db.read.conversations.get(user.id) == moved
    assert await db.read.conversations.idle_since(LATER + timedelta(seconds=1)) == [user.id]
    assert await db.read.conversations.idle_since(LATER) == []
    async with db.transaction() as tx:
        await tx.conversations.delete(user.id)
    assert await db.read.conversations.get(user.id) is None


async def test_cases_numbers_and_messages(db: Database) -> None:
    new = NewCase(
        user_id=None,
        category="npo",
        requester_type="NPO法人",
        person_name="山田 花子",
        contact_method="email",
        body="NPOの設立について相談したいです。",
        organisation="みずべの会",
        email="hanako@example.jp",
        preferred_dates="12月第1週の午後",
    )
    async with db.transaction() as tx:
        user = await tx.users.ensure("U1", NOW)
        first = await tx.cases.create(NewCase(**{**new.__dict__, "user_id": user.id}), NOW, 2026)
        second = await tx.cases.create(new, NOW, 2026)
        next_year = await tx.cases.create(new, NOW, 2027)
        await tx.cases.set_assignee(first.id, "U_STAFF", LATER)
        await tx.cases.set_status(first.id, "in_progress", LATER)
        await tx.cases.set_first_response(first.id, LATER)
        await tx.cases.set_first_response(first.id, LATER + timedelta(hours=1))
        await tx.cases.set_slack_message(first.id, "C1", "1700000000.000100")
        message = await tx.cases.add_message(first.id, "citizen", "追加です", LATER, line_message_id="m1")
        await tx.cases.set_message_slack_ts(message.id, "1700000000.000200")
        await tx.cases.add_message(first.id, "note", "内部メモ", LATER, author="U_STAFF")
    assert (first.number, second.number, next_year.number) == ("2026-0001", "2026-0002", "2027-0001")
    case = await db.read.cases.by_number("2026-0001")
    assert case is not None
    assert (case.status, case.assignee, case.first_response_at, case.slack_ts) == (
        "in_progress",
        "U_STAFF",
        LATER,
        "1700000000.000100",
    )
    assert (case.organisation, case.email, case.body) == ("みずべの会", "hanako@example.jp", new.body)
    messages = await db.read.cases.messages(case.id)
    assert [(m.direction, m.body, m.slack_ts) for m in messages] == [
        ("citizen", "追加です", "1700000000.000200"),
        ("note", "内部メモ", None),
    ]
    assert [c.id for c in await db.read.cases.for_user(user.id)] == [first.id]
    async with db.transaction() as tx:
        await tx.cases.set_status(first.id, "closed", LATER)
    closed = await db.read.cases.get(first.id)
    assert closed is not None and closed.closed_at == LATER
    assert await db.read.cases.for_user(user.id, include_closed=False) == []
    assert [c.number for c in await db.read.cases.with_status("new")] == ["2026-0002", "2027-0001"]


async def test_events_and_registrations(db: Database) -> None:
    draft = EventDraft(
        uid="salon-2026-12",
        kind="salon",
        title="ミズベサロン12月",
        starts_at=LATER,
        venue="市民協働推進センター",
        capacity=20,
        registration_deadline=NOW,
    )
    async with db.transaction() as tx:
        event = await tx.events.upsert(draft, NOW)
        again = await tx.events.upsert(
            EventDraft(**{**draft.__dict__, "title": "ミズベサロン（変更）"}), LATER
        )
        user = await tx.users.ensure("U1", NOW)
        registration = await tx.registrations.put(event.id, user.id, "registered", 2, NOW)
        changed = await tx.registrations.put(event.id, user.id, "registered", 3, LATER)
    assert again.id == event.id and again.title == "ミズベサロン（変更）" and again.updated_at == LATER
    assert (again.capacity, again.venue, again.registration_deadline) == (20, "市民協働推進センター", NOW)
    assert changed.id == registration.id and changed.party_size == 3
    assert await db.read.registrations.seats_taken(event.id) == 3
    assert await db.read.events.upcoming(NOW) == [again]
    assert await db.read.registrations.for_user(user.id) == [changed]
    async with db.transaction() as tx:
        await tx.registrations.put(event.id, user.id, "cancelled", 3, LATER)
        await tx.events.set_status(event.id, "cancelled", LATER)
    assert await db.read.registrations.seats_taken(event.id) == 0
    assert await db.read.events.upcoming(NOW) == []


async def test_reminders_are_claimed_once(db: Database) -> None:
    async with db.transaction() as tx:
        event = await tx.events.upsert(EventDraft(uid="e", kind="seminar", title="t", starts_at=LATER), NOW)
        reminder = await tx.reminders.add("event_day_before", NOW, NOW, event_id=event.id)
        other = await tx.reminders.add("event_day_before", LATER, NOW, event_id=event.id)
    assert await db.read.reminders.pending(due_before=NOW) == [reminder]
    async with db.transaction() as tx:
        assert await tx.reminders.claim(reminder.id, NOW)
        assert not await tx.reminders.claim(reminder.id, NOW)
        assert await tx.reminders.cancel(other.id)
    claimed = await db.read.reminders.get(reminder.id)
    assert claimed is not None and claimed.status == "done" and claimed.claimed_at == NOW
    assert await db.read.reminders.pending() == []


async def test_inbox_deduplicates_and_keeps_arrival_order(db: Database) -> None:
    events = [IncomingEvent("line", f"ev{n}", "U1", f'{{"n": {n}}}') for n in range(3)]
    async with db.transaction() as tx:
        assert await tx.inbox.add(events, NOW) == 3
        assert await tx.inbox.add(events[:2], NOW) == 0
    pending = await db.read.inbox.pending()
    assert [item.event_id for item in pending] == ["ev0", "ev1", "ev2"]
    async with db.transaction() as tx:
        await tx.inbox.mark_done(pending[0].id, LATER)
        await tx.inbox.mark_failed(pending[1].id, "ValueError", LATER)
    assert [item.event_id for item in await db.read.inbox.pending()] == ["ev2"]
    done = await db.read.inbox.get(pending[0].id)
    assert done is not None and (done.status, done.processed_at, done.attempts) == ("done", LATER, 1)
    assert await db.read.inbox.count("failed") == 1


async def test_outbox_orders_per_key_and_tracks_attempts(db: Database) -> None:
    async with db.transaction() as tx:
        a1 = await tx.outbox.add(
            LineMessages([{"type": "text", "text": "一"}]),
            "U1",
            NOW,
            reply_token="rt",
            reply_token_expires_at=LATER,
        )
        a2 = await tx.outbox.add(LineMessages([{"type": "text", "text": "二"}]), "U1", NOW)
        b1 = await tx.outbox.add(LineMessages([{"type": "text", "text": "三"}]), "U2", NOW)
    assert (
        a1.retry_key != a2.retry_key
        and a1.row == LineMessages([{"type": "text", "text": "一"}])
        and a1.reply_token_expires_at == LATER
    )
    assert [m.id for m in await db.read.outbox.due(NOW, ["line"])] == [a1.id, b1.id]  # only each key's head
    async with db.transaction() as tx:
        await tx.outbox.retry_later(a1.id, LATER, "HTTP 500")
        await tx.outbox.drop_reply_token(a1.id)
        assert await tx.outbox.mark_sent(b1.id, NOW, "push", attempts=0)
        assert not await tx.outbox.mark_sent(b1.id, NOW, "push", attempts=0)  # sent already: nothing twice
    assert await db.read.outbox.due(NOW, ["line"]) == []  # U1's head waits; U1's second must not overtake it
    [next_head] = await db.read.outbox.heads(["line"], limit=5)  # U1's head, due later: the next to come due
    assert (next_head.id, next_head.next_attempt_at) == (a1.id, LATER)
    assert await db.read.outbox.due(NOW, ["slack"]) == []
    retried = await db.read.outbox.get(a1.id)
    assert retried is not None
    assert (retried.attempts, retried.last_error, retried.reply_token, retried.retry_key) == (
        1,
        "HTTP 500",
        None,
        a1.retry_key,
    )
    async with db.transaction() as tx:
        await tx.outbox.finish(a1.id, "dead", "gave up")
    assert [m.id for m in await db.read.outbox.due(LATER, ["line"])] == [a2.id]
    async with db.transaction() as tx:
        assert await tx.outbox.cancel_pending("line:U1", "unfollowed") == 1
    assert [m.status for m in await db.read.outbox.in_order("line:U1")] == ["dead", "cancelled"]
    assert await db.read.outbox.count("sent") == 1
    assert await db.read.outbox.count_delivered("line", "push", NOW) == 1
    assert await db.read.outbox.count_delivered("line", "push", LATER) == 0
    assert await db.read.outbox.count_delivered("line", "reply", NOW) == 0


async def test_line_groups(db: Database) -> None:
    async with db.transaction() as tx:
        await tx.line_groups.joined("Cgroup1", NOW)
        await tx.line_groups.left("Cgroup1", LATER)
        await tx.line_groups.left("Cgroup2", LATER)
    group = await db.read.line_groups.get("Cgroup1")
    assert group is not None and (group.joined_at, group.left_at) == (NOW, LATER)
    assert await db.read.line_groups.get("Cgroup2") is not None


async def test_wards_sync_keeps_learned_group_ids(db: Database) -> None:
    specs = [
        WardCenterSpec("鶴見区", "鶴見区民活動支援センター", "C_T"),
        WardCenterSpec("西区", "西区民活動支援センター"),
    ]
    async with db.transaction() as tx:
        await tx.wards.sync(specs)
        await tx.wards.set_line_group("西区", "Cgroup")
        await tx.wards.sync(specs)
    wards = await db.read.wards.all()
    assert [(w.ward, w.slack_channel, w.line_group_id) for w in wards] == [
        ("鶴見区", "C_T", None),
        ("西区", None, "Cgroup"),
    ]
    assert await db.read.wards.by_ward("西区") == wards[1]


async def test_a_notice_reminder_is_claimed_only_once_it_is_due(db: Database) -> None:
    """The reminder service reads the due reminders, then claims each: a change of the notice that
    moved its reminder later meanwhile must make the claim fail, or it is sent now and never then."""
    meeting = NOW + timedelta(days=20)
    draft = NoticeDraft(
        title="区連絡会", meeting_at=meeting, answer_by=meeting - timedelta(days=5), venue="x"
    )
    async with db.transaction() as tx:
        notice = await tx.notices.create(draft, "U1", NOW, [])
        await tx.notices.schedule_reminder(notice.id, "unanswered", NOW + timedelta(days=10))
    async with db.transaction() as tx:
        assert not await tx.notices.claim_reminder(notice.id, "unanswered", NOW)
        assert await tx.notices.claim_reminder(notice.id, "unanswered", NOW + timedelta(days=10))
        assert not await tx.notices.claim_reminder(notice.id, "unanswered", NOW + timedelta(days=10))


async def test_notices_and_answers(db: Database) -> None:
    async with db.transaction() as tx:
        await tx.wards.sync(
            [WardCenterSpec("中区", "中区民活動支援センター"), WardCenterSpec("南区", "南区センター")]
        )
        ids = [w.id for w in await tx.wards.all()]
        draft = NoticeDraft("第3回ネットワーク会議", LATER, LATER, venue="センター", agenda="ご案内です")
        notice = await tx.notices.create(draft, "U_STAFF", NOW, [(i, "C_W", None) for i in ids])
        assert await tx.notices.record_answer(notice.id, ids[0], "attend", 2, "U_WARD", "slack", "C_W", LATER)
        # The same answer again (a double click) writes nothing.
        assert not await tx.notices.record_answer(
            notice.id, ids[0], "attend", 2, "U_WARD", "slack", "C_W", LATER
        )
    assert await db.read.notices.get(notice.id) == notice
    recipients = await db.read.notices.recipients(notice.id)
    assert [(r.answer, r.attendees, r.answered_at) for r in recipients] == [
        ("attend", 2, LATER),
        (None, None, None),
    ]
    assert len(await db.read.notices.history(notice.id, ids[0])) == 1


async def test_audit_log(db: Database) -> None:
    async with db.transaction() as tx:
        entry = await tx.audit.record("slack:U_STAFF", "case.claimed", "case", 7, NOW, {"from": None})
    assert await db.read.audit.for_subject("case", "7") == [entry]
    assert entry.detail == {"from": None} and entry.at == NOW


async def test_foreign_keys_are_enforced(db: Database) -> None:
    with pytest.raises(Exception, match="FOREIGN KEY"):
        async with db.transaction() as tx:
            await tx.registrations.put(999, 999, "registered", 1, NOW)
