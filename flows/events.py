"""Events for citizens: イベント (upcoming public events), their details, 申し込む, the waitlist,
キャンセル, and 申込状況 (the citizen's own sign-ups).

Each is a command (flows/commands.py). Buttons carry what they act on (`event:12:register`), so a
tap works wherever the citizen is, even in the middle of a consultation. The same can be typed: a list
is numbered in its text, and outside any other conversation the list shown is kept (the conversation
`events`) so that a number, a title, 次へ or 前へ names what was shown under it; at an event, the options
are numbered too (申し込む, キャンセルする, 一覧に戻る). Anything else typed leaves the events and is
answered as usual.

A seat is decided by one conditional INSERT (storage.registrations.register): when two citizens ask
for the last seat at once, one gets it and the other is put on the waitlist and told their place.
A cancelled seat goes to the first on the waitlist, who is told by a message of their own
(`Reply.notify`). Times are shown in the center's timezone with the weekday (flows/dates.py).

Consultation sessions have time slots (storage/slots.py, flows/slots.py): their card counts the free
slots, 申し込む asks which time (`event:12:slot:34`, or typed: a number, 14:00, 14時), one conditional
INSERT books it (storage.registrations.book: of two citizens asking for the same slot, one gets it, the
other is told and shown the free ones), and a session with no free slot takes the waitlist as any
event: a freed slot goes to the first waiting. After booking, ご相談内容を事前に送る starts the intake
(the finished case is linked to the booking, see SlotRepository.link_case).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from urllib.parse import quote, urlencode

from flows import matching, paging, slots
from flows import state as state_io
from flows.announcements import offer_subscription
from flows.commands import COMMANDS, Call, Command, menu
from flows.context import DeskContext, Notify, Reply, StaffEvent
from flows.dates import moment_text
from flows.messages import Card, Carousel, Choice, Link, Outgoing, Text
from flows.texts import Texts
from flows.validators import digits, row_id
from storage.cases import Case
from storage.conversations import Conversation
from storage.events import Event
from storage.registrations import Registration
from storage.repositories import Repositories
from storage.slots import Slot

FLOW = "events"
PER_PAGE = 12  # LINE shows at most 12 bubbles in a carousel
MAX_LISTED = 120
GOOGLE_CALENDAR = "https://calendar.google.com/calendar/render"

EVENTS_WORDS = frozenset({"イベント", "いべんと", "イベント一覧", "イベント情報", "イベントを見る"})
MINE_WORDS = frozenset(
    {"申込状況", "申し込み状況", "申込み状況", "お申し込み状況", "申込確認", "申し込み確認", "申込一覧"}
)
YES_WORDS = ("はい", "yes", "ok", "キャンセルする", "キャンセルします", "お願いします")
NO_WORDS = ("いいえ", "no", "しない", "キャンセルしない", "やめる", "やめます", "戻る")


# -- wording helpers ------------------------------------------------------------------------------


def when_text(event: Event, ctx: DeskContext) -> str:
    """12月5日(土) 14:00〜16:00 (the end's date too when it ends on another day)."""
    texts, tz = ctx.texts, ctx.timezone
    start = moment_text(texts, event.starts_at, tz)
    if event.ends_at is None:
        return start
    end_local = event.ends_at.astimezone(tz)
    if end_local.date() == event.starts_at.astimezone(tz).date():
        end = texts.get("events.end_time", hour=end_local.hour, minute=end_local.minute)
    else:
        end = moment_text(texts, event.ends_at, tz)
    return texts.get("events.range", start=start, end=end)


def calendar_url(event: Event, with_url: bool = False) -> str:
    """A Google Calendar link that fills in the event (times in UTC, so any timezone reads them right).
    The online address goes in only for those signed up (it is not public)."""
    ends = event.ends_at or event.starts_at + timedelta(hours=1)
    stamp = "%Y%m%dT%H%M%SZ"
    online = event.online_url if with_url else ""
    details = "\n".join(x for x in (event.description, online) if x)
    query = {
        "action": "TEMPLATE",
        "text": event.title,
        "dates": f"{event.starts_at.strftime(stamp)}/{ends.strftime(stamp)}",
        "details": details,
        "location": event.venue or online,
    }
    return GOOGLE_CALENDAR + "?" + urlencode({k: v for k, v in query.items() if v}, quote_via=quote)


def _summary(event: Event, ctx: DeskContext, with_url: bool = False, slot: Slot | None = None) -> str:
    """The event in a few lines: title, date and time, the booked slot, venue and online address
    (told only to those signed up; others read that it will be)."""
    texts = ctx.texts
    lines = [
        texts.get("events.title_line", title=event.title),
        texts.get("events.when", when=when_text(event, ctx)),
    ]
    if slot is not None:
        lines.append(texts.get("slots.summary_line", slot=slots.slot_moment(texts, slot, ctx.timezone)))
    if event.venue:
        lines.append(texts.get("events.venue", venue=event.venue))
    if event.online_url:
        online = (
            texts.get("events.online", url=event.online_url) if with_url else texts.get("events.online_later")
        )
        lines.append(online)
    return "\n".join(lines)


class _Seats:
    """What is free at one event, read at most once per answer: its card's line and its buttons
    both ask."""

    def __init__(self, event: Event, tx: Repositories) -> None:
        self._event, self._tx = event, tx
        self._slots: list[Slot] | None = None
        self._taken: int | None = None

    async def slots(self) -> list[Slot]:
        if self._slots is None:
            self._slots = await self._tx.slots.for_event(self._event.id)
        return self._slots

    async def free_slots(self) -> list[Slot]:
        return [s for s in await self.slots() if s.free]

    async def taken(self) -> int:
        if self._taken is None:
            self._taken = await self._tx.registrations.seats_taken(self._event.id)
        return self._taken


async def _seats_line(event: Event, call: Call, seats: _Seats) -> str:
    texts = call.ctx.texts
    if event.status == "cancelled":
        return texts.get("events.cancelled_event")
    if not _open(event, call):
        return texts.get("events.closed")
    if event.has_slots:
        free = len(await seats.free_slots())
        if not free:
            return texts.get("slots.full")
        total = len(await seats.slots())
        return texts.get("slots.left", left=free, total=total, minutes=event.slot_minutes)
    if event.capacity is None:
        return texts.get("events.no_capacity")
    left = event.capacity - await seats.taken()
    if left <= 0:
        return texts.get("events.full")
    return texts.get("events.seats_left", left=left, capacity=event.capacity)


async def _mine_line(mine: Registration | None, call: Call) -> str | None:
    if mine is None or mine.status == "cancelled":
        return None
    if mine.status == "registered" and mine.slot_id is not None:
        slot = await call.tx.slots.get(mine.slot_id)
        if slot is not None:
            return call.ctx.texts.get(
                "slots.mine", slot=slots.slot_moment(call.ctx.texts, slot, call.ctx.timezone)
            )
    if mine.status == "registered":
        return call.ctx.texts.get("events.mine_registered")
    position = await call.tx.registrations.position(mine)
    return call.ctx.texts.get("events.mine_waitlisted", position=position)


async def _actions(
    event: Event, mine: Registration | None, call: Call, seats: _Seats | None = None
) -> list[Choice]:
    """What the citizen can do with the event: sign up (or join the waitlist), or cancel."""
    texts = call.ctx.texts
    if mine is not None and mine.status in ("registered", "waitlisted"):
        key = "events.cancel" if mine.status == "registered" else "events.leave_waitlist"
        return [Choice(texts.get(key), f"event:{event.id}:cancel", ("キャンセル", "取り消す", "取消"))]
    if not _open(event, call):
        return []
    full = await _full(event, seats or _Seats(event, call.tx))
    key = "events.join_waitlist" if full else "events.register"
    return [Choice(texts.get(key), f"event:{event.id}:register", ("申し込む", "申込", "申し込み", "参加"))]


async def _full(event: Event, seats: _Seats) -> bool:
    """No seat left (at a session: no free slot)."""
    if event.has_slots:
        return not await seats.free_slots()
    return event.capacity is not None and await seats.taken() >= event.capacity


async def _held(event: Event, call: Call) -> Slot | None:
    return await call.tx.slots.held_by(event.id, call.user.id) if event.has_slots else None


async def _card(event: Event, call: Call) -> Card:
    texts = call.ctx.texts
    mine = await call.tx.registrations.of(event.id, call.user.id)
    seats = _Seats(event, call.tx)
    lines = [when_text(event, call.ctx)]
    if event.venue:
        lines.append(texts.get("events.venue", venue=event.venue))
    if event.online_url:
        lines.append(texts.get("events.online_short"))
    lines.append(await _seats_line(event, call, seats))
    mine_line = await _mine_line(mine, call)
    if mine_line:
        lines.append(mine_line)
    buttons: list[Choice | Link] = [Choice(texts.get("events.details"), f"event:{event.id}")]
    buttons += await _actions(event, mine, call, seats)
    registered = mine is not None and mine.status == "registered"
    buttons.append(Link(texts.get("events.calendar"), calendar_url(event, registered)))
    return Card(event.title, tuple(lines), tuple(buttons))


# -- the list (イベント, 申込状況) ----------------------------------------------------------------


def _keeps_state(call: Call) -> bool:
    """A list or question is kept for typed answers only where it replaces nothing: never in the
    middle of a consultation, nor over a kept draft (the citizen taps the buttons there)."""
    conversation = call.conversation
    return not call.in_flow and (conversation is None or conversation.flow == FLOW)


@dataclass(frozen=True)
class ListShown:
    """The list shown (イベント or 申込状況): a typed title, 次へ or 前へ names one of its events or pages."""

    ids: list[int]
    page: int = 0
    mine: bool = False


@dataclass(frozen=True)
class EventShown:
    """An event's card, its free slots or a question about it: a typed answer names one of its buttons."""

    id: int
    slots: list[int] = field(default_factory=list)  # the slots listed, in order: "2" is the second


async def _save(call: Call, step: str, shown: ListShown | EventShown) -> None:
    await state_io.save(call.tx, call.user.id, FLOW, step, shown, call.ctx.now)


def _end(call: Call, messages: Sequence[Outgoing]) -> Reply:
    """An answer that ends here: followed by the menu, except as a detour in a conversation."""
    return Reply([*messages] if call.in_flow else [*messages, menu(call.ctx.texts)])


async def _show_list(call: Call, ids: list[int], page: int, mine: bool) -> Reply:
    texts = call.ctx.texts
    events = [e for e in [await call.tx.events.get(i) for i in ids] if e is not None]
    if not events:
        return _end(call, [Text(texts.get("events.mine_none" if mine else "events.none"))])
    pages = (len(events) + PER_PAGE - 1) // PER_PAGE
    page = max(0, min(page, pages - 1))
    first = page * PER_PAGE
    shown = events[first : first + PER_PAGE]
    cards = tuple([await _card(e, call) for e in shown])
    header = texts.get("events.mine_header" if mine else "events.header")
    if pages > 1:
        header += texts.get("events.page", first=first + 1, last=first + len(shown), total=len(events))
    lines = [header]
    for number, event in enumerate(shown, first + 1):
        item = texts.get("events.item", number=number, when=when_text(event, call.ctx), title=event.title)
        status = (
            await _mine_line(await call.tx.registrations.of(event.id, call.user.id), call) if mine else None
        )
        lines.append(item + (texts.get("events.item_status", status=status) if status else ""))
    keeps = _keeps_state(call)
    lines.append(texts.get("events.hint" if keeps else "events.hint_buttons"))
    command = "registrations" if mine else "events"
    choices: list[Choice] = []
    if page > 0:
        choices.append(Choice(texts.get("flow.prev_page"), f"{command}:{page - 1}"))
    if page + 1 < pages:
        choices.append(Choice(texts.get("flow.next_page"), f"{command}:{page + 1}"))
    if not call.in_flow:
        choices.append(Choice(texts.get("events.menu"), "menu"))
    if keeps:
        await _save(call, "list", ListShown([e.id for e in events], page, mine))
    alt = texts.get("events.mine_alt" if mine else "events.alt")
    return Reply([Carousel(alt, cards), Text("\n".join(lines), choices=tuple(choices))])


def _page(call: Call) -> int:
    return digits(call.argument) or 0


async def _events(call: Call) -> Reply:
    """イベント: the upcoming public events, a page of 12 at a time."""
    events = await call.tx.events.upcoming(call.ctx.now, limit=MAX_LISTED, public_only=True)
    return await _show_list(call, [e.id for e in events], _page(call), mine=False)


async def _mine(call: Call) -> Reply:
    """申込状況: the citizen's sign-ups and places on waitlists for events still to come."""
    ids: list[int] = []
    for registration in await call.tx.registrations.for_user(call.user.id):
        event = await call.tx.events.get(registration.event_id)
        if registration.status != "cancelled" and event is not None and event.starts_at >= call.ctx.now:
            ids.append(event.id)
    events = sorted(
        [e for e in [await call.tx.events.get(i) for i in ids] if e is not None], key=lambda e: e.starts_at
    )
    return await _show_list(call, [e.id for e in events], _page(call), mine=True)


# -- one event -----------------------------------------------------------------------------------


async def _event(call: Call) -> Reply:
    """Buttons on an event: event:<id> (details), event:<id>:register, event:<id>:cancel,
    event:<id>:cancel:yes|no."""
    head, _, action = call.argument.partition(":")
    event = await call.tx.events.get(row_id(head))
    texts = call.ctx.texts
    if event is None or not await _visible(event, call):
        return _end(call, [Text(texts.get("events.not_found"))])
    if not event.public and (action == "register" or action.startswith("slot:")):
        # Made internal after they signed up: they keep what they hold (and may cancel it), no more.
        return await _details(event, call)
    if action == "register" and event.has_slots:
        return await _ask_slot(event, call)
    if action == "register":
        return await _register(event, call)
    if action.startswith("link:"):
        return await _link(event, row_id(action.removeprefix("link:")), call)
    if action.startswith("slot:"):
        slot_id = row_id(action.removeprefix("slot:"))
        if slot_id:
            return await _book(event, slot_id, call)
    if action == "cancel":
        return await _ask_cancel(event, call)
    if action == "cancel:yes":
        return await _cancel(event, call)
    if action == "cancel:no":
        return _end(call, [Text(texts.get("events.cancel_kept"))])
    return await _details(event, call)


async def _visible(event: Event, call: Call) -> bool:
    """Public, or made internal after this citizen signed up (or joined its waitlist): they can still
    see it and cancel, though nobody can sign up any more."""
    if event.public:
        return True
    mine = await call.tx.registrations.of(event.id, call.user.id)
    return mine is not None and mine.status in ("registered", "waitlisted")


def _open(event: Event, call: Call) -> bool:
    """Taking sign-ups from citizens: open, and not internal."""
    return event.public and event.open_for_sign_up(call.ctx.now)


async def _details(event: Event, call: Call) -> Reply:
    texts = call.ctx.texts
    mine = await call.tx.registrations.of(event.id, call.user.id)
    registered = mine is not None and mine.status == "registered"
    seats = _Seats(event, call.tx)
    lines = [_summary(event, call.ctx, registered), await _seats_line(event, call, seats)]
    lines += await _slot_lines(event, mine, call, seats)
    if event.registration_deadline is not None and _open(event, call):
        deadline = moment_text(texts, event.registration_deadline, call.ctx.timezone)
        lines.append(texts.get("events.deadline", deadline=deadline))
    mine_line = await _mine_line(mine, call)
    if mine_line:
        lines.append(mine_line)
    if event.description:
        lines.append(event.description)
    lines.append(texts.get("events.calendar_line", url=calendar_url(event, registered)))
    options = [
        *await _actions(event, mine, call, seats),
        Choice(texts.get("events.back"), "events", ("一覧",)),
    ]
    keeps = _keeps_state(call)
    if keeps:
        await _save(call, "event", EventShown(event.id))
        lines.append(paging.listing(options, texts))
    return Reply([Text("\n".join(lines), choices=tuple(options))])


async def _slot_lines(event: Event, mine: Registration | None, call: Call, seats: _Seats) -> list[str]:
    """A session's slots, each free or booked (the citizen's own said so), for the details."""
    if not event.has_slots or event.status == "cancelled":
        return []
    texts, tz = call.ctx.texts, call.ctx.timezone
    lines = [texts.get("slots.list_header", minutes=event.slot_minutes)]
    for slot in await seats.slots():
        own = mine is not None and mine.status == "registered" and mine.slot_id == slot.id
        key = "slots.list_mine" if own else "slots.list_free" if slot.free else "slots.list_taken"
        lines.append(texts.get(key, slot=slots.slot_time(texts, slot, tz)))
    return lines


async def _ask_slot(event: Event, call: Call, before: str = "") -> Reply:
    """申し込む at a session: which time? The free slots as choices (and numbered, for typing). With
    none free, the waitlist as at any full event (after a slot was just taken: offered, not done)."""
    tx, now, texts = call.tx, call.ctx.now, call.ctx.texts
    notify = await _tell_promoted(event, await tx.registrations.promote(event.id, now), call.ctx, tx)
    held = await _held(event, call)
    free = await _Seats(event, tx).free_slots()
    if held is not None:
        said = texts.get("slots.already", slot=slots.slot_moment(texts, held, call.ctx.timezone))
        reply = _end(call, [Text(said)])
    elif not free and before and _open(event, call):
        reply = await _offer_waitlist(event, call, f"{before}\n{texts.get('slots.none_free')}")
    elif not free or not _open(event, call):
        reply = await _register(event, call)
    else:
        options = [*(slots.slot_choice(event.id, s, texts, call.ctx.timezone) for s in free), _back(texts)]
        question = texts.get("slots.question", summary=_summary(event, call.ctx))
        if before:
            question = f"{before}\n{question}"
        if _keeps_state(call):
            await _save(call, "slots", EventShown(event.id, [s.id for s in free]))
            question += "\n" + paging.listing(options, texts)
        reply = Reply([Text(question, choices=tuple(options))])
    reply.notify = [*notify, *reply.notify]
    return reply


async def _offer_waitlist(event: Event, call: Call, said: str) -> Reply:
    """The session filled up while the citizen chose: the waitlist is offered (as on its details)."""
    texts = call.ctx.texts
    mine = await call.tx.registrations.of(event.id, call.user.id)
    options = [*await _actions(event, mine, call), _back(texts)]
    if _keeps_state(call):
        await _save(call, "event", EventShown(event.id))
        said += "\n" + paging.listing(options, texts)
    return Reply([Text(said, choices=tuple(options))])


def _back(texts: Texts) -> Choice:
    return Choice(texts.get("events.back"), "events", ("一覧",))


def _booked_options(texts: Texts, event_id: int, earlier: Case | None) -> tuple[Choice, ...]:
    link = (
        (
            Choice(
                texts.get("slots.link_case", number=earlier.number),
                f"event:{event_id}:link:{earlier.id}",
                ("見てもらう",),
            ),
        )
        if earlier is not None
        else ()
    )
    return (
        *link,
        Choice(texts.get("slots.send_case"), "consult", ("事前に送る", "送る", "相談内容")),
        Choice(texts.get("events.menu"), "menu"),
    )


async def _earlier_case(call: Call) -> Case | None:
    """The citizen's latest open consultation not yet shown to an advisor: offered after a booking."""
    open_cases = await call.tx.cases.for_user(call.user.id, include_closed=False)
    for case in reversed(open_cases):
        if await call.tx.slots.for_case(case.id) is None:
            return case
    return None


async def _link(event: Event, case_id: int, call: Call) -> Reply:
    """受付番号 … を見てもらう: an open consultation of this citizen linked to their booking here."""
    tx, texts = call.tx, call.ctx.texts
    case = await tx.cases.get(case_id)
    mine = case is not None and case.user_id == call.user.id and case.status != "closed"
    slot = await tx.slots.link_booking(event.id, call.user.id, case_id, call.ctx.now) if mine else None
    if case is None or slot is None:
        return _end(call, [Text(texts.get("slots.link_gone"))])
    reply = _end(call, [Text(texts.get("slots.linked", number=case.number))])
    reply.staff = [StaffEvent("case_linked", case.id)]
    return reply


async def _book(event: Event, slot_id: int, call: Call) -> Reply:
    """A slot tapped or typed: booked, or taken a moment before (the free ones shown again)."""
    tx, now, texts = call.tx, call.ctx.now, call.ctx.texts
    if not event.has_slots:
        return await _register(event, call)
    promoted = await tx.registrations.promote(event.id, now)
    notify = await _tell_promoted(event, promoted, call.ctx, tx)
    outcome, _ = await tx.registrations.book(event.id, slot_id, call.user.id, now)
    if outcome == "taken":
        reply = await _ask_slot(event, call, before=texts.get("slots.taken"))
    elif outcome != "booked":
        reply = await _ask_slot(event, call)  # already holding one, or closed: said there
    else:
        slot = await tx.slots.get(slot_id)
        summary = _summary(event, call.ctx, with_url=True, slot=slot)
        earlier = await _earlier_case(call)
        said = (
            texts.get("slots.booked_with_case", summary=summary, number=earlier.number)
            if earlier is not None
            else texts.get("slots.booked", summary=summary)
        )
        if _keeps_state(call):
            # An open consultation sent before is offered to the advisor, or the consultation form
            # (typed: a number, 見てもらう, 事前に送る); a case filed while the booking is ahead is linked.
            options = _booked_options(texts, event.id, earlier)
            await _save(call, "booked", EventShown(event.id))
            reply = Reply([Text(f"{said}\n{paging.listing(options, texts)}", choices=options)])
        else:
            reply = _end(call, [Text(said)])
    reply.notify = [*notify, *reply.notify]
    return reply


async def _register(event: Event, call: Call) -> Reply:
    tx, now, texts = call.tx, call.ctx.now, call.ctx.texts
    promoted = await tx.registrations.promote(event.id, now)  # seats freed meanwhile go to those waiting
    outcome, mine = await tx.registrations.register(event.id, call.user.id, now)
    summary = _summary(event, call.ctx)
    if outcome == "registered":
        said = texts.get("events.registered", summary=_summary(event, call.ctx, with_url=True))
    elif outcome == "waitlisted" and mine is not None:
        said = texts.get("events.waitlisted", summary=summary, position=await tx.registrations.position(mine))
    elif outcome == "already" and mine is not None and mine.status == "waitlisted":
        said = texts.get("events.already_waitlisted", position=await tx.registrations.position(mine))
    elif outcome == "already":
        said = texts.get("events.already_registered")
    else:
        said = texts.get("events.cancelled_event" if event.status == "cancelled" else "events.closed")
    # Signed up: asked once whether to hear of new events of this kind (the question ends the answer).
    offer = await offer_subscription(event, call) if outcome in ("registered", "waitlisted") else None
    reply = Reply([Text(said), offer]) if offer is not None else _end(call, [Text(said)])
    reply.notify = await _tell_promoted(event, promoted, call.ctx, tx)
    return reply


async def _ask_cancel(event: Event, call: Call) -> Reply:
    texts = call.ctx.texts
    mine = await call.tx.registrations.of(event.id, call.user.id)
    if mine is None or mine.status == "cancelled":
        return _end(call, [Text(texts.get("events.nothing_to_cancel"))])
    options = _cancel_options(event, texts)
    summary = _summary(event, call.ctx, slot=await _held(event, call))
    question = texts.get("events.cancel_question", summary=summary)
    if _keeps_state(call):
        await _save(call, "cancel", EventShown(event.id))
        question += "\n" + paging.listing(options, texts)
    return Reply([Text(question, choices=options)])


def _cancel_options(event: Event, texts: Texts) -> tuple[Choice, ...]:
    return (
        Choice(texts.get("events.cancel_yes"), f"event:{event.id}:cancel:yes", YES_WORDS),
        Choice(texts.get("events.cancel_no"), f"event:{event.id}:cancel:no", NO_WORDS),
    )


async def _cancel(event: Event, call: Call) -> Reply:
    tx, now, texts = call.tx, call.ctx.now, call.ctx.texts
    held = await _held(event, call)  # the slot it frees, named in the answer
    before = await tx.registrations.cancel(event.id, call.user.id, now)
    if before is None:
        return _end(call, [Text(texts.get("events.nothing_to_cancel"))])
    promoted = await tx.registrations.promote(event.id, now) if before.status == "registered" else []
    key = "events.cancelled" if before.status == "registered" else "events.waitlist_left"
    reply = _end(call, [Text(texts.get(key, summary=_summary(event, call.ctx, slot=held)))])
    reply.notify = await _tell_promoted(event, promoted, call.ctx, tx)
    return reply


async def fill_freed_seats(tx: Repositories, event_ids: list[int], ctx: DeskContext) -> list[Notify]:
    """Seats freed outside a citizen's own cancellation (a deletion on request) go to the first on each
    waitlist, who are told."""
    notify: list[Notify] = []
    for event_id in event_ids:
        event = await tx.events.get(event_id)
        promoted = await tx.registrations.promote(event_id, ctx.now)
        if event is not None and promoted:
            notify += await _tell_promoted(event, promoted, ctx, tx)
    return notify


async def _tell_promoted(
    event: Event, promoted: list[Registration], ctx: DeskContext, tx: Repositories
) -> list[Notify]:
    """Those given a seat (at a session: a slot, whose time they are told) learn it by a push."""
    notify: list[Notify] = []
    for registration in promoted:
        slot = None if registration.slot_id is None else await tx.slots.get(registration.slot_id)
        summary = _summary(event, ctx, with_url=True, slot=slot)
        notify.append(
            Notify(registration.user_id, (Text(ctx.texts.get("events.promoted", summary=summary)),))
        )
    return notify


# -- typed answers while a list or an event is shown ----------------------------------------------


async def in_conversation(call: Call) -> Reply | None:
    """A typed answer to the list, the event or the question shown; None when it is none of them
    (the desk then drops the events conversation and answers as usual)."""
    conversation = call.conversation
    assert conversation is not None and conversation.flow == FLOW
    if conversation.step == "slots":  # a time two advisors share: asked again, with the numbers
        event, found = await _slot_answer(conversation, call)
        if event is not None and found.ambiguous:
            return await _ask_slot(event, call, before=call.ctx.texts.get("slots.ambiguous"))
    value = await _named(conversation, call)
    if value is None:
        return None
    await call.tx.conversations.delete(call.user.id)
    command = COMMANDS.find(value)
    assert command is not None
    said = await command.run(replace(call, word=value, conversation=None))
    return said if isinstance(said, Reply) else _end(call, said)


async def _named(conversation: Conversation, call: Call) -> str | None:
    """The button value a typed (or tapped) answer names at the step shown."""
    word = call.word
    text = call.inbound.text if call.inbound.kind == "text" else ""
    if conversation.step == "list":
        listed = state_io.read(ListShown, conversation)
        page = listed.page
        command = "registrations" if listed.mine else "events"
        if word in paging.NEXT_WORDS:
            return f"{command}:{page + 1}"
        if word in paging.PREV_WORDS and page > 0:
            return f"{command}:{page - 1}"
        events = [e for e in [await call.tx.events.get(i) for i in listed.ids] if e is not None]
        options = [Choice(e.title, f"event:{e.id}") for e in events]
        found = matching.match(text, options) if text else matching.Match()
        return found.choice.value if found.choice is not None else None
    event = await call.tx.events.get(state_io.read(EventShown, conversation).id)
    if event is None or not text:
        return None
    if conversation.step == "slots":
        _, found = await _slot_answer(conversation, call)
        return found.choice.value if found.choice is not None else None
    if conversation.step == "booked":
        options = list(_booked_options(call.ctx.texts, event.id, await _earlier_case(call)))
    elif conversation.step == "cancel":
        options = list(_cancel_options(event, call.ctx.texts))
    else:
        registration = await call.tx.registrations.of(event.id, call.user.id)
        back = Choice(call.ctx.texts.get("events.back"), "events", ("一覧",))
        options = [*await _actions(event, registration, call), back]
    found = matching.match(text, options)
    return found.choice.value if found.choice is not None else None


async def _slot_answer(conversation: Conversation, call: Call) -> tuple[Event | None, matching.Match]:
    """The slot (or 一覧に戻る) a typed answer names among those shown: by number, time or label."""
    state = state_io.read(EventShown, conversation)
    event = await call.tx.events.get(state.id)
    text = call.inbound.text if call.inbound.kind == "text" else ""
    # A long text is a message, not a time (「10時の回は駐車場がありますか…」): see matching.MAX_TYPED.
    # An event made internal meanwhile offers no slot: nobody signs up for it any more.
    if event is None or not event.public or not text or matching.is_message(text):
        return None, matching.Match()
    shown = [await call.tx.slots.get(i) for i in state.slots]
    listed = [s for s in shown if s is not None and s.event_id == event.id]
    tz = call.ctx.timezone
    options = [*(slots.slot_choice(event.id, s, call.ctx.texts, tz) for s in listed), _back(call.ctx.texts)]
    return event, slots.pick(text, options, listed, tz)


# -- the declarations (see flows/commands.py) ----------------------------------------------------

COMMANDS.add(Command("events", EVENTS_WORDS, _events, menu="menu.events", menu_order=20, takes_argument=True))
COMMANDS.add(
    Command("registrations", MINE_WORDS, _mine, menu="menu.registrations", menu_order=30, takes_argument=True)
)
COMMANDS.add(Command("event", frozenset(), _event, takes_argument=True))
