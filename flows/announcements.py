"""Announcements of new events (the center's information programme), for citizens: 配信設定, 配信停止,
the question after a sign-up, and the text of an announcement.

A citizen hears of a new event only for the kinds they chose (`[[events.kinds]]`); every kind is off
until chosen. 配信設定 lists the kinds, numbered, with what is chosen; a tap (`subs:toggle:<kind>`) or
the number or name typed turns one on or off. 配信停止 (and 配信を止めて, お知らせ停止, ストップ ...)
stops every announcement at once and says how to resume (配信再開, or choosing a kind again); the
choices are kept. After signing up for an event, a citizen who has not chosen its kind is asked once
per kind whether to hear of new ones (`subs:offer:<kind>:yes|no`, or typed).

Buttons carry what they act on, so they work anywhere; outside any other conversation the question
shown is kept (the conversation `subscriptions`, its step naming the question, nothing else) so that a
typed number or name answers it. Who is told is decided in storage (storage/subscriptions.py): those
who follow the account, chose the kind and have not stopped.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import tzinfo

from flows import matching, paging
from flows.commands import COMMANDS, Call, Command, menu
from flows.context import DeskContext, Reply
from flows.dates import moment_text
from flows.messages import MAX_CHOICES, Choice, Outgoing, Text
from flows.texts import Texts
from flows.validators import digits
from storage.conversations import Conversation
from storage.events import Event

FLOW = "subscriptions"
SETTINGS, STOP = "subs", "unsubscribe"
SETTINGS_STEP, OFFER_STEP = "settings", "offer:"

SETTINGS_WORDS = frozenset(
    {"配信設定", "はいしんせってい", "配信の設定", "お知らせ設定", "お知らせの設定", "通知設定", "配信を設定"}
)
RESUME_WORDS = frozenset(
    {
        "配信再開",
        "はいしんさいかい",
        "配信を再開",
        "配信を再開して",
        "配信再開して",
        "お知らせ再開",
        "配信を再開する",
    }
)
STOP_WORDS = frozenset(
    {"配信停止", "はいしんていし", "お知らせ停止", "配信解除", "ストップ", "すとっぷ", "stop"}
)
# Typed variants, compared whole: (イベントの)(配信|お知らせ|通知)(を)(停止|止めて|やめて|いらない…)(ください)
_STOP_TYPED = re.compile(
    r"(イベントの)?(配信|お知らせ|おしらせ|通知)(を|は)?"
    r"(停止|止めて|とめて|止める|とめる|止めたい|やめて|やめる|やめたい|いらない|いりません|不要|解除|オフ)"
    r"(して|する|したい|してください|ください|お願いします|をお願いします|です)?"
)
YES_WORDS = ("はい", "yes", "ok", "受け取る", "受け取ります", "お願いします", "希望")
NO_WORDS = ("いいえ", "no", "受け取らない", "いらない", "不要", "結構です", "大丈夫です")


def kind_label(ctx: DeskContext, kind: str) -> str:
    return dict(ctx.event_kinds).get(kind, kind)


# -- the announcement, for everyone who chose the kind -------------------------------------------


def announcement(event: Event, kind: str, texts: Texts, tz: tzinfo) -> Text:
    """The same message for every subscriber, so nothing personal: the event, its time (the center's
    timezone, with the weekday), its place (never the online address, which only those signed up
    get; 未定 when it has neither), how to sign up and how to stop. 詳しく見る opens the event (its
    申し込む button)."""
    place = [event.venue.strip()] if event.venue.strip() else []
    if event.online_url:
        place.append(texts.get("announcements.online"))
    text = texts.get(
        "announcements.message",
        kind=kind,
        title=event.title,
        when=moment_text(texts, event.starts_at, tz),
        place=" / ".join(place) or texts.get("announcements.place_undecided"),
    )
    choices = (
        Choice(texts.get("announcements.details"), f"event:{event.id}"),
        Choice(texts.get("announcements.stop_choice"), STOP),
    )
    return Text(text, choices=choices)


# -- 配信設定 ----------------------------------------------------------------------------------------


def _keeps_state(call: Call) -> bool:
    """The question shown is kept for typed answers only where it replaces nothing (see
    flows/events.py: never in a consultation, nor over a kept draft)."""
    return not call.in_flow and (call.conversation is None or call.conversation.flow == FLOW)


async def _save(call: Call, step: str) -> None:
    now = call.ctx.now
    await call.tx.conversations.save(Conversation(call.user.id, FLOW, step, now, now))


def _kind_options(ctx: DeskContext, chosen: set[str]) -> list[Choice]:
    texts = ctx.texts
    return [
        Choice(texts.get("announcements.on_choice" if kind in chosen else "announcements.off_choice", label=label),
               f"{SETTINGS}:toggle:{kind}", (label,))
        for kind, label in ctx.event_kinds
    ]  # fmt: skip


async def _show(call: Call, page: int = 0, said: tuple[str, ...] = (), focus: str = "") -> Reply:
    """The kinds, numbered, each with 受け取る / 受け取らない; the buttons a page at a time (the page
    with `focus`, a kind just changed, when given)."""
    ctx, tx, user = call.ctx, call.tx, call.user
    texts = ctx.texts
    chosen = await tx.subscriptions.kinds(user.id)
    stopped = await tx.subscriptions.stopped(user.id)
    lines = [*said, texts.get("announcements.settings_header")]
    if stopped:
        lines.append(texts.get("announcements.settings_stopped"))
    for number, (kind, label) in enumerate(ctx.event_kinds, 1):
        state = texts.get("announcements.on" if kind in chosen else "announcements.off")
        lines.append(texts.get("announcements.settings_item", number=number, label=label, state=state))
    keeps = _keeps_state(call)
    # In a consultation its question comes after this answer, and the buttons go with the last message.
    hint = "settings_hint" if keeps else "settings_hint_later" if call.in_flow else "settings_hint_buttons"
    lines.append(texts.get(f"announcements.{hint}"))
    lines.append(texts.get("announcements.settings_resume" if stopped else "announcements.settings_stop"))
    controls = [
        Choice(texts.get("announcements.resume"), f"{SETTINGS}:resume")
        if stopped
        else Choice(texts.get("announcements.stop_choice"), STOP)
    ]
    if not call.in_flow:
        controls.append(Choice(texts.get("events.menu"), "menu"))
    options = _kind_options(ctx, chosen)
    slices = paging.page_slices(len(options), MAX_CHOICES - len(controls))
    kinds = [kind for kind, _ in ctx.event_kinds]
    if focus in kinds:
        page = next(n for n, (start, end) in enumerate(slices) if start <= kinds.index(focus) < end)
    page = max(0, min(page, len(slices) - 1))
    start, end = slices[page]
    buttons: list[Choice] = []
    if page > 0:
        buttons.append(Choice(texts.get("flow.prev_page"), f"{SETTINGS}:page:{page - 1}"))
    buttons += options[start:end]
    if page + 1 < len(slices):
        buttons.append(Choice(texts.get("flow.next_page"), f"{SETTINGS}:page:{page + 1}"))
    if keeps:
        await _save(call, SETTINGS_STEP)
    return Reply([Text("\n".join(lines), choices=(*buttons, *controls))])


async def _settings(call: Call) -> Reply | list[Outgoing]:
    """配信設定, and its buttons: subs:page:<n>, subs:toggle:<kind>, subs:resume,
    subs:offer:<kind>:yes|no; 配信再開 typed."""
    if call.word in RESUME_WORDS:
        return await _resume(call)
    action, _, rest = call.argument.partition(":")
    if action == "page":
        return await _show(call, digits(rest) or 0)
    if action == "toggle":
        return await _toggle(call, rest)
    if action == "resume":
        return await _resume(call)
    if action == "offer":
        kind, _, answer = rest.partition(":")
        return await _offer_answered(call, kind, answer == "yes")
    return await _show(call)


async def _toggle(call: Call, kind: str) -> Reply:
    ctx, tx, user = call.ctx, call.tx, call.user
    texts = ctx.texts
    if kind not in dict(ctx.event_kinds):  # a stale or forged button: nothing changes
        return await _show(call, said=(texts.get("announcements.unknown_kind"),))
    on = kind not in await tx.subscriptions.kinds(user.id)
    await tx.subscriptions.choose(user.id, kind, on, ctx.now)
    said = [
        texts.get(
            "announcements.turned_on" if on else "announcements.turned_off", label=kind_label(ctx, kind)
        )
    ]
    # Choosing a kind after 配信停止 means hearing about it: announcements resume.
    if on and await tx.subscriptions.resume(user.id):
        said.append(texts.get("announcements.resumed"))
    return await _show(call, said=tuple(said), focus=kind)


async def _resume(call: Call) -> Reply:
    texts = call.ctx.texts
    resumed = await call.tx.subscriptions.resume(call.user.id)
    said = texts.get("announcements.resumed" if resumed else "announcements.not_stopped")
    return await _show(call, said=(said,))


async def _stop(call: Call) -> list[Outgoing]:
    """配信停止: every announcement stops at once; the kinds chosen are kept for a resumption."""
    await call.tx.subscriptions.stop(call.user.id, call.ctx.now)
    return [Text(call.ctx.texts.get("announcements.stopped"))]


# -- after a sign-up -------------------------------------------------------------------------------


def _offer_options(kind: str, texts: Texts) -> tuple[Choice, ...]:
    return (
        Choice(texts.get("announcements.offer_yes"), f"{SETTINGS}:offer:{kind}:yes", YES_WORDS),
        Choice(texts.get("announcements.offer_no"), f"{SETTINGS}:offer:{kind}:no", NO_WORDS),
    )


async def offer_subscription(event: Event, call: Call) -> Text | None:
    """Asked once per kind after a sign-up (not in the middle of a consultation, where the question
    would be lost under the consultation's own): would the citizen like to hear of new events of this
    kind? Not asked of those who chose it already or sent 配信停止. None: nothing to ask."""
    ctx, tx, user = call.ctx, call.tx, call.user
    if call.in_flow or event.kind not in dict(ctx.event_kinds):
        return None
    if event.kind in await tx.subscriptions.kinds(user.id) or await tx.subscriptions.stopped(user.id):
        return None
    if not await tx.subscriptions.mark_offered(user.id, event.kind, ctx.now):
        return None
    texts = ctx.texts
    options = _offer_options(event.kind, texts)
    question = texts.get("announcements.offer", label=kind_label(ctx, event.kind))
    if _keeps_state(call):
        await _save(call, OFFER_STEP + event.kind)
        question += "\n" + paging.listing(options, texts)
    return Text(question, choices=options)


async def _offer_answered(call: Call, kind: str, yes: bool) -> list[Outgoing]:
    ctx = call.ctx
    texts = ctx.texts
    if kind not in dict(ctx.event_kinds):
        return [Text(texts.get("announcements.unknown_kind"))]
    await call.tx.subscriptions.choose(call.user.id, kind, yes, ctx.now)
    key = "announcements.offer_taken" if yes else "announcements.offer_declined"
    return [Text(texts.get(key, label=kind_label(ctx, kind)))]


# -- typed answers to the question shown -------------------------------------------------------------


async def in_conversation(call: Call) -> Reply | None:
    """A typed answer to 配信設定 or to the question after a sign-up; None when it answers neither
    (the desk then drops the conversation and answers as usual)."""
    conversation = call.conversation
    assert conversation is not None and conversation.flow == FLOW
    text = call.inbound.text if call.inbound.kind == "text" else ""
    if not text:
        return None
    ctx = call.ctx
    if conversation.step.startswith(OFFER_STEP):
        options = list(_offer_options(conversation.step[len(OFFER_STEP) :], ctx.texts))
    else:
        options = _kind_options(ctx, await call.tx.subscriptions.kinds(call.user.id))
    found = matching.match(text, options)
    if found.ambiguous and conversation.step == SETTINGS_STEP:
        return await _show(call, said=(ctx.texts.get("invalid.ambiguous"),))
    if found.choice is None:
        return None
    await call.tx.conversations.delete(call.user.id)
    value = found.choice.value
    said = await _settings(replace(call, word=value, conversation=None))
    return said if isinstance(said, Reply) else Reply([*said, menu(ctx.texts)])


# -- the declarations (see flows/commands.py) ----------------------------------------------------

COMMANDS.add(
    Command(
        SETTINGS,
        SETTINGS_WORDS | RESUME_WORDS,
        _settings,
        menu="menu.subscriptions",
        menu_order=35,
        takes_argument=True,
    )
)
COMMANDS.add(Command(STOP, STOP_WORDS, _stop, pattern=_STOP_TYPED))
