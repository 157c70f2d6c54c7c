"""The front desk: routes each inbound event from a citizen.

Commands that are always available (メニュー, ヘルプ, 相談する, 相談状況), the guided consultation
intake, and follow-ups: a free message from a citizen with an open case and no flow under way is
added to that case for staff. Answers are channel-neutral; `StaffEvent`s tell the runtime what the
staff side must be shown.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum, auto
from typing import Any, Literal

from flows import announcements, events, image_sets, intake, matching, paging, privacy, questionnaire
from flows import state as state_io
from flows.commands import COMMANDS, Call, Command
from flows.commands import menu as menu
from flows.context import DeskContext as DeskContext
from flows.context import Notify
from flows.context import Reply as Reply
from flows.context import StaffEvent as StaffEvent
from flows.dates import day_text, moment_text
from flows.engine import BACK_WORDS, CANCEL, CANCEL_WORDS, CANCEL_YES, PENDING_CANCEL, RESUME, Engine, State
from flows.messages import Choice, Inbound, Outgoing, Text
from flows.texts import Texts
from flows.validators import digits, normalise
from storage.cases import Case
from storage.conversations import Conversation
from storage.repositories import Repositories
from storage.users import User

MENU_WORDS = frozenset({"menu", "メニュー", "めにゅー", "最初", "はじめ"})
HELP_WORDS = frozenset({"help", "ヘルプ", "へるぷ", "使い方", "?"})
CONSULT_WORDS = frozenset({"consult", "相談する", "相談", "相談したい"})
STATUS_WORDS = frozenset({"status", "相談状況"})
CONTACT_WORDS = frozenset({"contact", "お問い合わせ", "問い合わせ", "連絡先"})
# 配信停止 outside a consultation; at one of its questions, stop the consultation (see _in_intake).
# Typed as control words are (`matching.says`: ストップ。, ストップします).
STOP_ALONE = frozenset({"ストップ", "すとっぷ", "stop"})
# 削除: deletion of the citizen's personal data, asked first; always available, even mid-flow.
DELETE_WORDS = frozenset(
    {"delete", "削除", "さくじょ", "データ削除", "データの削除", "個人情報削除", "個人情報の削除", "削除して",
     "削除してください", "削除したい", "削除希望", "削除依頼", "データを削除", "個人情報を削除"}
)  # fmt: skip
# Typed variants: (私の)(個人情報|データ)(を|の)削除(して|してください|してほしい|をお願いします|希望|依頼|したい)
_DELETE_TYPED = re.compile(
    r"(私の|わたしの)?(個人情報|こじんじょうほう|データ|情報|登録)?(を|の)?(削除|さくじょ|消去)"
    r"(する|して|してください|してほしい|してほしいです|をお願いします|お願いします|希望|依頼|したい|したいです)?"
)
DELETE_FLOW = "delete"
DELETE_YES, DELETE_NO = "delete:yes", "delete:no"
DELETE_YES_WORDS = ("はい", "yes", "ok", "削除する", "削除します", "お願いします")
DELETE_NO_WORDS = ("いいえ", "no", "しない", "削除しない", "やめる", "やめます", "取りやめ", "結構です")
RESTART = "flow:restart"
# Typed answers to 「続きから再開しますか？」 besides the two labels and their numbers.
RESUME_WORDS = ("続きから", "再開", "再開する", "続きをする")
RESTART_WORDS = ("やり直す", "やりなおす", "新しく", "はじめから", "初めから")
FOLLOWUP_PREFIX = "followup:"
FOLLOWUP_FLOW = "followup"

# Flows that only keep what was shown, for a typed answer to it (LINE for PC has no quick replies):
# each reads the answer, or gives None and the desk drops the conversation and answers as usual.
SHOWN: dict[str, Callable[[Call], Awaitable[Reply | None]]] = {
    events.FLOW: events.in_conversation,
    announcements.FLOW: announcements.in_conversation,
    questionnaire.NAME: questionnaire.in_conversation,
}


@dataclass(frozen=True)
class Aside:
    """A conversation kept aside while the deletion question is open: いいえ gives it back as it was."""

    flow: str
    step: str
    data: dict[str, Any]
    started_at: datetime


@dataclass(frozen=True)
class DeleteQuestion:
    previous: Aside | None = None


@dataclass(frozen=True)
class HeldMessage:
    """A message that came while the citizen was asked which case it belongs to."""

    kind: str  # "text", or the media type
    text: str
    message_id: str


@dataclass(frozen=True)
class WhichCase:
    held: list[HeldMessage]
    cases: list[int]  # the cases listed, in order: a typed number means the case shown under it
    page: int = 0


def contact_text(ctx: DeskContext) -> str:
    """お問い合わせ: the center's contact details."""
    block = ctx.contact.block(ctx.texts)
    if not block:
        return ctx.texts.get("contact.none")
    return ctx.texts.get("contact.title", center=ctx.center_name) + "\n" + block


async def respond(inbound: Inbound, user: User, tx: Repositories, ctx: DeskContext) -> Reply:
    """The bot's answer to one inbound event from a citizen. Images sent together (an image set)
    are each handled, but answered once: by the first of the set handled (flows/image_sets.py); the
    rest of a set kept with a case goes with that case."""
    before = await tx.conversations.get(user.id)
    sets = image_sets.remembered(before, ctx.now)
    set_id = inbound.image_set if image_sets.usable(inbound.image_set) else ""
    case = await _case_of_set(sets, set_id, before, user, tx)
    if case is not None:  # the conversation, and what is remembered, stay as they are
        return replace(await _add_followups(case, [_held(inbound)], user, tx, ctx), messages=[])
    reply = await _respond_afresh(inbound, user, tx, ctx, before)
    if reply.forgotten or not (set_id or sets.answered):
        return reply  # nothing to remember (after a deletion, nothing may be kept)
    after = await tx.conversations.get(user.id)
    # A which-case question this image opened is asked even for a set answered before (its held
    # images dropped by キャンセル, its case closed since): else it would hold the images unseen.
    asks = (
        after is not None and after.flow == FOLLOWUP_FLOW and (before is None or before.flow != FOLLOWUP_FLOW)
    )
    if set_id and image_sets.answered(sets, set_id) and not asks:
        reply = replace(reply, messages=[])  # attached and forwarded like the others, in silence
    elif set_id:
        sets = image_sets.adding(sets, set_id, inbound.message_id, ctx.now)
    sets = image_sets.filing(sets, await _filed(reply, image_sets.unfiled(sets), tx))
    await image_sets.keep(tx, user.id, sets, ctx.now)
    return reply


async def _case_of_set(
    sets: image_sets.Sets, set_id: str, conversation: Conversation | None, user: User, tx: Repositories
) -> Case | None:
    """The open case a later image of a set goes with, without asking: the one the set was kept
    with. None (handled as any image) during the intake or the deletion question."""
    case_id = image_sets.case_of(sets, set_id) if set_id else None
    if case_id is None or (conversation is not None and conversation.flow in (intake.NAME, DELETE_FLOW)):
        return None
    case = await tx.cases.get(case_id)
    return case if case is not None and case.user_id == user.id and case.status != "closed" else None


async def _filed(reply: Reply, images: frozenset[str], tx: Repositories) -> dict[str, int]:
    """The case each of `images` (LINE message ids) was kept with by `reply`."""
    filed: dict[str, int] = {}
    for event in reply.staff if images else []:
        if event.kind == "case_followup" and event.message_id is not None:
            message = await tx.cases.get_message(event.message_id)
            if message is not None and message.line_message_id in images:
                filed[message.line_message_id] = event.case_id
    return filed


class _Unread(Enum):
    UNREAD = auto()


# The citizen's conversation as read just before (respond reads it first): not read twice per event.
Known = Conversation | None | Literal[_Unread.UNREAD]


async def _respond_afresh(
    inbound: Inbound, user: User, tx: Repositories, ctx: DeskContext, known: Known = _Unread.UNREAD
) -> Reply:
    try:
        return await _respond(inbound, user, tx, ctx, known)
    except state_io.BadState:
        # A kept state that fits its flow no more (an older version's, a damaged row): start afresh
        # rather than act on half of it. States are read before anything is written.
        await tx.conversations.delete(user.id)
        return await _respond(inbound, user, tx, ctx)


async def _respond(
    inbound: Inbound, user: User, tx: Repositories, ctx: DeskContext, known: Known = _Unread.UNREAD
) -> Reply:
    texts = ctx.texts
    if inbound.kind == "follow":
        await _set_aside_on_follow(user, tx, ctx)
        return Reply([Text(texts.get("greeting.text", center=ctx.center_name)), menu(texts)])
    if inbound.kind == "unfollow":
        return Reply()
    if inbound.kind == "unsend":
        return await _unsend(inbound.message_id, user, tx, ctx)
    word = _word(inbound)
    conversation = await tx.conversations.get(user.id) if known is _Unread.UNREAD else known
    if conversation is not None and conversation.flow == image_sets.FLOW:
        conversation = None  # only what image sets were answered: no conversation under way
    if conversation is not None and conversation.flow == DELETE_FLOW:
        return await _at_delete_question(conversation, inbound, word, user, tx, ctx)
    command = _command(word)
    call = Call(word, inbound, user, conversation, tx, ctx)
    if command is not None and command.mid_flow == "takeover":
        return await _run(command, call)
    draft = _draft(conversation)
    if draft is None and conversation is not None and conversation.flow == intake.NAME:
        return await _in_intake(conversation, inbound, word, user, tx, ctx)
    if conversation is not None and conversation.flow == FOLLOWUP_FLOW:
        reply = await _choose_followup_case(conversation, inbound, word, user, tx, ctx)
        if reply is not None:
            return reply
        filed = await file_held(conversation, user, tx, ctx)
        rest = await _respond_afresh(inbound, user, tx, ctx)
        return Reply([*filed.messages, *rest.messages], [*filed.staff, *rest.staff], notify=rest.notify)
    if conversation is not None and conversation.flow in SHOWN:
        if command is None:  # a typed answer to the list, the event or the question shown
            reply = await SHOWN[conversation.flow](call)
            if reply is not None:
                return reply
        await tx.conversations.delete(user.id)  # moved on: answered as if nothing were shown
        conversation = None
        call = Call(word, inbound, user, None, tx, ctx)
    if conversation is not None and draft is not None:
        answer = _draft_answer(inbound, word, texts)
        if answer == RESUME:
            return await _resume_draft(conversation, draft, tx, ctx)
        if answer == RESTART:
            return await _start_intake(user, tx, ctx)
    if command is not None:
        return await _run(command, call)
    # Read once for both: an open case keeps typed text from the questionnaire and takes it instead.
    cases = await tx.cases.for_user(user.id)
    case_open = any(c.status != "closed" for c in cases)
    # A typed answer to a question waiting for it:
    answered = await questionnaire.typed_answer(inbound, user, tx, ctx, case_open)
    if answered is not None:
        return answered
    return await _free_message(inbound, cases, user, tx, ctx, draft is not None)


async def _set_aside_on_follow(user: User, tx: Repositories, ctx: DeskContext) -> None:
    """Blocked and added again (or a follow LINE sends twice): the greeting says to choose from the
    menu, so nothing half asked may take the next message as its answer. An intake under way is
    kept as a draft (相談する offers to resume it); a deletion question is dropped, giving back what
    it kept aside; a list or question shown is dropped; messages held for "which case?" stay (the
    next message files them)."""
    conversation = await tx.conversations.get(user.id)
    if conversation is not None and conversation.flow == DELETE_FLOW:
        previous = state_io.read(DeleteQuestion, conversation).previous
        conversation = None
        await tx.conversations.delete(user.id)
        if previous is not None:
            conversation = Conversation(
                user.id, previous.flow, previous.step, previous.started_at, ctx.now, data=previous.data
            )
            await tx.conversations.save(conversation)
    if conversation is None or conversation.flow == FOLLOWUP_FLOW:
        return
    if conversation.flow != intake.NAME:
        await tx.conversations.delete(user.id)
        return
    state = state_io.read(State, conversation)
    if not state.draft:
        kept = replace(state, draft=True)
        await state_io.save(
            tx, user.id, intake.NAME, state.step, kept, ctx.now, started_at=conversation.started_at
        )


def _draft(conversation: Conversation | None) -> State | None:
    """The consultation kept aside after a long silence, if that is what the conversation holds."""
    if conversation is None or conversation.flow != intake.NAME:
        return None
    state = state_io.read(State, conversation)
    return state if state.draft else None


async def _run(command: Command, call: Call) -> Reply:
    """A command outside a flow: what it says, then the menu (or the Reply of a command that starts
    a conversation of its own)."""
    said = await command.run(call)
    if isinstance(said, Reply):
        return said
    return Reply([*said, menu(call.ctx.texts)])


# -- the commands that are always available ---------------------------------------------------


async def _say_nothing(call: Call) -> list[Outgoing]:
    return []  # メニュー: the menu the desk adds is the answer


async def _say_help(call: Call) -> list[Outgoing]:
    texts = call.ctx.texts
    return [Text(call.ctx.contact.with_block(texts.get("help.text"), texts))]


async def _say_contact(call: Call) -> list[Outgoing]:
    return [Text(contact_text(call.ctx))]


async def _say_status(call: Call) -> list[Outgoing]:
    return [await _status(call.user, call.tx, call.ctx)]


async def _consult(call: Call) -> Reply:
    """相談する: the intake; with a draft kept, first whether to resume it or start again."""
    if _draft(call.conversation) is not None:
        texts = call.ctx.texts
        options = _draft_options(texts)
        # Listed in the text too: LINE for PC shows no quick replies (answers: see `_draft_answer`).
        question = texts.get("flow.draft_found") + "\n" + paging.listing(options, texts)
        return Reply([Text(question, choices=options)])
    return await _start_intake(call.user, call.tx, call.ctx)


def _draft_options(texts: Texts) -> tuple[Choice, Choice]:
    return (
        Choice(texts.get("flow.resume"), RESUME, RESUME_WORDS),
        Choice(texts.get("flow.restart"), RESTART, RESTART_WORDS),
    )


def _draft_answer(inbound: Inbound, word: str, texts: Texts) -> str | None:
    """RESUME or RESTART when the citizen answered the question about their kept draft: a button,
    or typed (its number, a label or a word of it; a long message is no answer, `matching`)."""
    if word in (RESUME, RESTART):
        return word
    if inbound.kind != "text":
        return None
    found = matching.match(inbound.text, _draft_options(texts)).choice
    return None if found is None else found.value


async def _delete(call: Call) -> Reply:
    return await _ask_delete(call.conversation, call.user, call.tx, call.ctx)


# -- the intake ---------------------------------------------------------------------------


def intake_engine(ctx: DeskContext) -> Engine:
    return intake.engine(ctx.categories, ctx.texts, privacy.policy_line(ctx.texts, ctx.policy_url))


async def _start_intake(user: User, tx: Repositories, ctx: DeskContext) -> Reply:
    result = intake_engine(ctx).start()
    assert result.state is not None
    await _save(user, result.state, tx, ctx, started_at=ctx.now)
    # Out of hours, the citizen learns before typing anything when the center will read it. Then the
    # privacy notice, and the question (with the link to the full policy) whether they agree.
    hours = _out_of_hours(ctx)
    notice = Text(privacy.notice(ctx.texts, ctx.center_name, ctx.retention_days))
    return Reply([*hours, notice, *result.messages])


def _out_of_hours(ctx: DeskContext) -> list[Outgoing]:
    """The out-of-hours notice (when the center next opens, and its phone), or nothing while open."""
    if ctx.calendar is None or ctx.calendar.is_open(ctx.now):
        return []
    texts = ctx.texts
    opening = ctx.calendar.next_opening(ctx.now)
    if opening is None:  # closed beyond the calendar's horizon: no date to give
        text = texts.get("out_of_hours.no_reopening")
    else:
        text = texts.get("out_of_hours.notice", when=moment_text(texts, opening, ctx.timezone))
    if ctx.contact.phone:
        text += texts.get("out_of_hours.urgent")
        text = ctx.contact.with_block(text, texts, only=("phone", "hours"))
    return [Text(text)]


async def _resume_draft(
    conversation: Conversation, draft: State, tx: Repositories, ctx: DeskContext
) -> Reply:
    state = replace(draft, draft=False)
    await state_io.save(
        tx, conversation.user_id, intake.NAME, state.step, state, ctx.now, started_at=conversation.started_at
    )
    return Reply(intake_engine(ctx).prompt(state))


async def _in_intake(
    conversation: Conversation, inbound: Inbound, word: str, user: User, tx: Repositories, ctx: DeskContext
) -> Reply:
    engine = intake_engine(ctx)
    state = state_io.read(State, conversation)
    hint: list[Outgoing] = []
    if matching.says(word, STOP_ALONE):
        # Typed alone at a question, ストップ means this consultation (outside one it is 配信停止): the
        # consultation's own キャンセル, which asks first when something would be lost; typed again at
        # that question, yes. An announcement may just have arrived, so a subscriber is told the words
        # that stop those.
        word = CANCEL_YES if state.pending == PENDING_CANCEL else CANCEL
        inbound = Inbound("choice", value=word)
        if await tx.subscriptions.kinds(user.id) and not await tx.subscriptions.stopped(user.id):
            hint = [Text(ctx.texts.get("flow.stop_announcements"))]
    # Help, the menu and status in the middle of the flow: answer, then pick up where we were.
    command = COMMANDS.find(word)
    if command is not None and command.mid_flow in ("detour", "resume"):
        detour: list[Outgoing] = []
        notify: list[Notify] = []
        if command.mid_flow == "detour":
            said = await command.run(Call(word, inbound, user, conversation, tx, ctx, in_flow=True))
            if isinstance(said, Reply):
                detour, notify = said.messages, said.notify
            else:
                detour = said
        await _save(user, state, tx, ctx, started_at=conversation.started_at)
        resume = [Text(ctx.texts.get("flow.help_resume")), *engine.prompt(state)]
        return Reply([*detour, *resume], notify=notify)
    result = engine.handle(state, inbound)
    if result.outcome in ("cancelled", "declined"):
        await tx.conversations.delete(user.id)
        agreed = user.privacy_agreed_at
        if result.outcome == "declined" and agreed is not None and agreed >= conversation.started_at:
            # Agreed, went back, declined: the agreement given in this conversation is withdrawn.
            await tx.users.set_privacy_agreed(user.id, None, ctx.now)
        return Reply([*hint, *result.messages, menu(ctx.texts)])
    if result.outcome == "confirmed":
        await tx.conversations.delete(user.id)
        local_year = ctx.now.astimezone(ctx.timezone).year
        case = await intake.create_case(state.answers, user.id, tx, ctx.now, local_year)
        await tx.slots.link_case(user.id, case.id, ctx.now)  # a booked consultation slot ahead shows it
        messages: list[Outgoing] = [Text(await _promise(case, tx, ctx)), *_out_of_hours(ctx)]
        return Reply(messages, [StaffEvent("case_created", case.id)])
    assert result.state is not None
    agrees = result.state.answers.get("privacy") == "yes"
    if agrees and (user.privacy_agreed_at is None or user.privacy_notice_version != ctx.notice_version):
        # Recorded with the version agreed to; an agreement to an earlier version is replaced.
        await tx.users.set_privacy_agreed(user.id, ctx.now, ctx.now, ctx.notice_version)
    await _save(user, result.state, tx, ctx, started_at=conversation.started_at)
    return Reply([*hint, *result.messages])


async def _promise(case: Case, tx: Repositories, ctx: DeskContext) -> str:
    """The confirmation: the case number and, from the business calendar, the date of the answer,
    which is stored with the case for staff (回答期限) and for the overdue check."""
    texts = ctx.texts
    due = None if ctx.calendar is None else ctx.calendar.answer_due(ctx.now, ctx.answer_days)
    if ctx.calendar is None or due is None:  # no calendar, or closed beyond its horizon: no date
        return texts.get("intake.received", number=case.number, days=ctx.answer_days)
    await tx.cases.set_promise(case.id, due, not ctx.calendar.is_open(ctx.now))
    return texts.get(
        "intake.received_by",
        number=case.number,
        days=ctx.answer_days,
        due=day_text(texts, due, ctx.timezone),
    )


async def _save(user: User, state: State, tx: Repositories, ctx: DeskContext, started_at: datetime) -> None:
    await state_io.save(tx, user.id, intake.NAME, state.step, state, ctx.now, started_at=started_at)


# -- 削除: deletion on request ---------------------------------------------------------------


def asks_deletion(word: str) -> bool:
    """削除 and its typed variants (compared whole, after NFKC and without closing punctuation), so a
    message that only mentions deleting something (先日の写真を削除してください) is not one."""
    return COMMANDS.get("delete").names(word)


def _delete_question(numbers: list[str], texts: Texts) -> Text:
    options = _delete_options(texts)
    if numbers:
        question = texts.get("delete.question", numbers="、".join(numbers))
    else:
        question = texts.get("delete.question_no_cases")
    return Text(f"{question}\n{paging.listing(options, texts)}", choices=options)


def _delete_options(texts: Texts) -> tuple[Choice, ...]:
    return (
        Choice(texts.get("delete.yes"), DELETE_YES, DELETE_YES_WORDS),
        Choice(texts.get("delete.no"), DELETE_NO, DELETE_NO_WORDS),
    )


async def _ask_delete(
    conversation: Conversation | None, user: User, tx: Repositories, ctx: DeskContext
) -> Reply:
    """Say what will be deleted and ask. A conversation under way is kept aside: いいえ resumes it."""
    aside = None
    if conversation is not None:
        aside = Aside(conversation.flow, conversation.step, conversation.data, conversation.started_at)
    await state_io.save(tx, user.id, DELETE_FLOW, "confirm", DeleteQuestion(aside), ctx.now)
    numbers = [c.number for c in await tx.cases.for_user(user.id)]
    return Reply([_delete_question(numbers, ctx.texts)])


async def _at_delete_question(
    conversation: Conversation, inbound: Inbound, word: str, user: User, tx: Repositories, ctx: DeskContext
) -> Reply:
    texts = ctx.texts
    options = _delete_options(texts)
    if word == CANCEL or matching.says(word, CANCEL_WORDS) or matching.says(word, BACK_WORDS):
        found = matching.Match(options[1])
    elif asks_deletion(word):  # 削除 again is no answer: ask the question again
        found = matching.Match()
    elif inbound.kind == "choice":
        found = matching.Match(next((c for c in options if c.value == inbound.value), None))
    elif inbound.kind == "text":
        found = matching.match(inbound.text, options)
    else:
        found = matching.Match()
    if found.choice is not None and found.choice.value == DELETE_YES:
        reply, _ = await privacy.delete_on_request(user, tx, ctx, [Text(texts.get("delete.done"))])
        return reply
    if found.choice is not None:
        return Reply([Text(texts.get("delete.kept")), *await restore_before_delete(conversation, tx, ctx)])
    numbers = [c.number for c in await tx.cases.for_user(user.id)]
    key = "invalid.ambiguous" if found.ambiguous else "invalid.choice"
    return Reply([Text(texts.get(key)), _delete_question(numbers, texts)])


async def restore_before_delete(
    conversation: Conversation, tx: Repositories, ctx: DeskContext
) -> list[Outgoing]:
    """The deletion was not confirmed: the conversation it interrupted comes back (an intake asks
    its question again); without one, the menu."""
    previous = state_io.read(DeleteQuestion, conversation).previous
    if previous is None:
        await tx.conversations.delete(conversation.user_id)
        return [menu(ctx.texts)]
    back = Conversation(
        conversation.user_id, previous.flow, previous.step, previous.started_at, ctx.now, data=previous.data
    )
    await tx.conversations.save(back)
    if back.flow == intake.NAME and _draft(back) is None:
        return intake_engine(ctx).prompt(state_io.read(State, back))
    return [menu(ctx.texts)]


# -- status and follow-ups ------------------------------------------------------------------


async def _status(user: User, tx: Repositories, ctx: DeskContext) -> Text:
    texts = ctx.texts
    cases = (await tx.cases.for_user(user.id))[-10:]
    if not cases:
        return Text(texts.get("status.none"))
    labels = dict(ctx.categories)
    lines = [texts.get("status.header")]
    for case in cases:
        status = texts.get(f"status.{case.status}")
        lines.append(
            texts.get(
                "status.line", number=case.number, category=labels.get(case.category, ""), status=status
            )
        )
    return Text("\n".join(lines))


async def _free_message(
    inbound: Inbound,
    cases: list[Case],
    user: User,
    tx: Repositories,
    ctx: DeskContext,
    keeps_draft: bool = False,
) -> Reply:
    """A message outside any flow: a follow-up when the citizen has an open case, else a pointer to
    the menu. `cases`: all of the citizen's, in order."""
    texts = ctx.texts
    open_cases = [c for c in cases if c.status != "closed"]
    if not open_cases and inbound.kind == "text":
        # A short question (開館時間, 場所 …) gets its answer; with an open case it goes to staff instead.
        answer = ctx.faq.answer(inbound.text, ctx.contact, texts)
        if answer is not None:
            return Reply([Text(answer)])
    if not open_cases and inbound.kind in ("text", "media"):
        reopened = await _reopen_recent(cases, tx, ctx)
        if reopened is not None:
            reply = await _add_followups(reopened, [_held(inbound)], user, tx, ctx)
            return Reply(reply.messages, [StaffEvent("case_reopened", reopened.id), *reply.staff])
    if not open_cases or inbound.kind not in ("text", "media"):
        if inbound.kind == "choice":
            # A button that names nothing now: not the greeting meant for typed text ("ご相談は
            # 「相談する」から") right after the consultation it just sent was received.
            return Reply([Text(texts.get("flow.stale_choice")), menu(texts)])
        if inbound.kind in ("sticker", "location"):
            return Reply([Text(texts.get(f"media.{inbound.kind}"))])
        if inbound.kind == "media":
            # Said once for images sent together (see respond), so said of them all.
            key = "media.image_set" if inbound.image_set else f"media.{inbound.media}"
            return Reply([Text(texts.get(key))])
        return Reply([Text(ctx.contact.with_block(texts.get("fallback.text"), texts)), menu(texts)])
    held = [_held(inbound)]
    # One conversation row per citizen: asking "which case?" would replace a suspended draft, so with
    # a draft kept the message goes with the newest open case.
    if len(open_cases) == 1 or keeps_draft:
        return await _add_followups(open_cases[-1], held, user, tx, ctx)
    return await _ask_which_case(user, held, open_cases, 0, ctx.now, tx, ctx)


async def _reopen_recent(cases: list[Case], tx: Repositories, ctx: DeskContext) -> Case | None:
    """The citizen's most recently closed case, reopened, when it was closed recently enough."""
    if ctx.reopen_within_days <= 0:
        return None
    closed = [c for c in cases if c.status == "closed" and c.closed_at is not None]
    if not closed:
        return None
    latest = max(closed, key=lambda c: c.closed_at or c.updated_at)
    if latest.closed_at is None or ctx.now - latest.closed_at > timedelta(days=ctx.reopen_within_days):
        return None
    await tx.cases.set_status(latest.id, "in_progress", ctx.now)
    await tx.audit.record("citizen", "case.reopened", "case", latest.id, ctx.now)
    return latest


def _held(inbound: Inbound) -> HeldMessage:
    kind = inbound.media if inbound.kind == "media" else "text"
    return HeldMessage(kind, inbound.text, inbound.message_id)


def _which_paged(cases: list[Case], page: int, ctx: DeskContext) -> paging.Paged:
    """The citizen's open cases as choices, a page at a time (a citizen may have more than fit). The
    case number and the category are each a name of the case (2026-0001です, 総合相談で)."""
    labels = dict(ctx.categories)
    options = tuple(
        Choice(
            f"{c.number} {labels.get(c.category, '')}".strip(),
            f"{FOLLOWUP_PREFIX}{c.id}",
            tuple(w for w in (c.number, labels.get(c.category, "")) if w),
        )
        for c in cases
    )
    cancel = Choice(ctx.texts.get("flow.cancel"), "flow:cancel")
    return paging.paginate(options, (cancel,), page, ctx.texts)


async def _ask_which_case(
    user: User,
    held: list[HeldMessage],
    cases: list[Case],
    page: int,
    started_at: datetime,
    tx: Repositories,
    ctx: DeskContext,
) -> Reply:
    """Ask which case the held messages belong to; the cases listed are kept, so a typed number
    means the case that was shown under it. Always listed in the text, numbered: LINE for PC shows
    no quick replies, and they vanish once the citizen types."""
    paged = _which_paged(cases, page, ctx)
    which = WhichCase(held, [c.id for c in cases], paged.page)
    await state_io.save(tx, user.id, FOLLOWUP_FLOW, "which", which, ctx.now, started_at=started_at)
    texts = ctx.texts
    listed = paging.listing(paged.options, texts)
    text = "\n".join([texts.get("followup.which"), listed, texts.get("followup.which_cancel")])
    return Reply([Text(text, choices=paged.choices)])


def _picked_case(inbound: Inbound, word: str, paged: paging.Paged) -> tuple[int | None, bool]:
    """The case id a tapped or typed answer names, and whether a typed answer fits several cases:
    the button, or typed as every list is answered (flows/matching.py: the number in the list,
    １番です, the case number, the category or a part of it, NPO)."""
    if word.startswith(FOLLOWUP_PREFIX):
        return digits(word[len(FOLLOWUP_PREFIX) :]), False
    if inbound.kind != "text":
        return None, False
    found = matching.match(inbound.text, paged.options)
    if found.choice is None:
        return None, found.ambiguous
    return int(found.choice.value[len(FOLLOWUP_PREFIX) :]), False


async def _choose_followup_case(
    conversation: Conversation, inbound: Inbound, word: str, user: User, tx: Repositories, ctx: DeskContext
) -> Reply | None:
    """The citizen was asked which case a message belongs to. None: they moved on to something else."""
    which = state_io.read(WhichCase, conversation)
    held = list(which.held)
    open_list = await tx.cases.for_user(user.id, include_closed=False)
    open_cases = {c.id: c for c in open_list}
    every_case = {c.id: c for c in await tx.cases.for_user(user.id)}
    shown = [every_case[i] for i in which.cases if i in every_case] or open_list
    paged = _which_paged(shown, which.page, ctx)
    started = conversation.started_at
    turned = paging.turn(word, paged)
    if turned is not None:
        return await _ask_which_case(user, held, shown, turned, started, tx, ctx)
    if inbound.kind in ("text", "choice") and (word == CANCEL or matching.says(word, CANCEL_WORDS)):
        # Typed too (LINE for PC shows no キャンセル button): what was held is not passed to staff.
        await tx.conversations.delete(user.id)
        return Reply([Text(ctx.texts.get("followup.cancelled")), menu(ctx.texts)])
    if _is_command(word):  # before the cases: 相談 is a command, not a part of 総合相談
        return None
    picked, ambiguous = _picked_case(inbound, word, paged)
    if picked is not None:
        case = open_cases.get(picked)
        if case is not None:
            await tx.conversations.delete(user.id)
            return await _add_followups(case, held, user, tx, ctx)
        if len(open_cases) > 1:  # closed meanwhile: ask again with the cases open now
            return await _ask_which_case(user, held, open_list, 0, started, tx, ctx)
    if len(open_cases) > 1 and ambiguous:  # an answer that fits several cases: asked, not held
        asked = await _ask_which_case(user, held, open_list, paged.page, started, tx, ctx)
        return replace(asked, messages=[Text(ctx.texts.get("invalid.ambiguous")), *asked.messages])
    if len(open_cases) > 1 and inbound.kind in ("text", "media"):  # matches no case: a message of its own
        held.append(_held(inbound))
        return await _ask_which_case(user, held, open_list, paged.page, started, tx, ctx)
    return None


async def file_held(conversation: Conversation, user: User, tx: Repositories, ctx: DeskContext) -> Reply:
    """Messages held while asking which case: never dropped, they go with the citizen's newest case."""
    await tx.conversations.delete(user.id)
    cases = await tx.cases.for_user(user.id, include_closed=False) or await tx.cases.for_user(user.id)
    held = state_io.read(WhichCase, conversation).held
    if not cases or not held:
        return Reply()
    return await _add_followups(cases[-1], held, user, tx, ctx)


async def _unsend(message_id: str, user: User, tx: Repositories, ctx: DeskContext) -> Reply:
    """The citizen unsent (送信取消) a message: what we kept of it goes. A message held for the
    which-case question is dropped; a follow-up filed with a case loses its text and staff are told.
    Nothing is said to the citizen (LINE expects no answer), whatever the message was."""
    if not message_id:
        return Reply()
    conversation = await tx.conversations.get(user.id)
    if conversation is not None and conversation.flow == FOLLOWUP_FLOW:
        which = state_io.read(WhichCase, conversation)
        held = [h for h in which.held if h.message_id != message_id]
        if len(held) < len(which.held):
            tx.checkpoint_after_commit()  # the kept state held the text: out of the WAL too
            if not held:  # nothing left to file: the question is moot
                await tx.conversations.delete(user.id)
                return Reply()
            kept, started = replace(which, held=held), conversation.started_at
            await state_io.save(
                tx, user.id, FOLLOWUP_FLOW, conversation.step, kept, ctx.now, started_at=started
            )
            return Reply()
    withdrawn = await tx.cases.withdraw_message(user.id, message_id)
    if withdrawn is None:
        return Reply()
    tx.checkpoint_after_commit()
    await tx.audit.record("citizen", "case.message_unsent", "case", withdrawn.case_id, ctx.now)
    return Reply(staff=[StaffEvent("case_unsent", withdrawn.case_id, withdrawn.id)])


def _is_command(word: str) -> bool:
    return _command(word) is not None or word.startswith("flow:")


def _command(word: str) -> Command | None:
    """The command a word names; ストップ also typed as control words are (ストップ。, ストップします):
    outside a consultation, 配信停止."""
    found = COMMANDS.find(word)
    if found is None and matching.says(word, STOP_ALONE):
        return COMMANDS.get(announcements.STOP)
    return found


async def _add_followups(
    case: Case, held: list[HeldMessage], user: User, tx: Repositories, ctx: DeskContext
) -> Reply:
    staff: list[StaffEvent] = []
    for item in held:
        message = await tx.cases.add_message(
            case.id,
            "citizen",
            item.text,
            ctx.now,
            kind=item.kind,
            line_message_id=item.message_id or None,
        )
        staff.append(StaffEvent("case_followup", case.id, message.id))
    key = "followup.added" if all(i.kind == "text" for i in held) else "followup.media_added"
    return Reply([Text(ctx.texts.get(key, number=case.number))], staff)


def _word(inbound: Inbound) -> str:
    return normalise(inbound.value if inbound.kind == "choice" else inbound.text).lower()


# -- the declarations: each citizen command, once (see flows/commands.py) ------------------------

COMMANDS.add(
    Command("consult", CONSULT_WORDS, _consult, menu="menu.consult", menu_order=10, mid_flow="resume")
)
COMMANDS.add(Command("status", STATUS_WORDS, _say_status, menu="menu.status", menu_order=40))
COMMANDS.add(Command("contact", CONTACT_WORDS, _say_contact, menu="menu.contact", menu_order=50))
COMMANDS.add(Command("help", HELP_WORDS, _say_help, menu="menu.help", menu_order=60))
COMMANDS.add(Command("menu", MENU_WORDS, _say_nothing))
COMMANDS.add(Command("delete", DELETE_WORDS, _delete, mid_flow="takeover", pattern=_DELETE_TYPED))

# The text menu, in order: (value, wording key). Only what works.
MENU_ITEMS = COMMANDS.menu_items()
