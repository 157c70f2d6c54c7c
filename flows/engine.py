"""A small engine for guided conversations declared as data.

A `Flow` is a list of `Step`s. The engine is pure: it takes the stored state and one inbound event
and returns the new state and what to say, so it can be tested without a network, a database or a
clock of its own. Every flow gets the same controls: back one step, cancel at any point (asked to
confirm once something would be lost), a summary where any single answer can be edited, and skip on
optional steps.

Every question with options lists them, numbered, in its text and takes them typed as well as
tapped (flows.matching): quick replies vanish once the citizen types, and LINE for PC shows none.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from flows import matching, paging, validators
from flows.messages import Choice, Inbound, Outgoing, Text
from flows.texts import Texts
from flows.validators import Invalid

InputKind = Literal["choice", "yes_no", "text", "multi_text", "phone", "email", "preference", "kana"]
Answers = Mapping[str, Any]

BACK, CANCEL, SKIP, DONE = "flow:back", "flow:cancel", "flow:skip", "flow:done"
CONFIRM, EDIT, RESUME = "flow:confirm", "flow:edit", "flow:resume"
EDIT_PREFIX = "flow:edit:"
SUMMARY, EDIT_PICK = "_summary", "_edit"
# Answers to the questions the engine asks by itself: "really cancel?" and, for a text already
# given, "write it again or add to it?".
CANCEL_YES, CANCEL_NO = "flow:cancel:yes", "flow:cancel:no"
REWRITE, APPEND = "flow:rewrite", "flow:append"
# `State.pending`: one of those questions is waiting for its answer.
PENDING_CANCEL, PENDING_REWRITE = "cancel", "rewrite"

# Controls typed as words: the whole message, folded and without a polite ending (`matching.says`:
# キャンセルします, ストップ。, 以上です！).
CANCEL_WORDS = frozenset(
    {"キャンセル", "きゃんせる", "やめる", "やめます", "中止", "取り消し", "取消", "cancel"}
)
BACK_WORDS = frozenset({"戻る", "もどる", "前へ", "前に戻る", "ひとつ前", "一つ前", "back"})
SKIP_WORDS = frozenset({"スキップ", "すきっぷ", "なし", "特になし", "ありません", "skip"})
DONE_WORDS = frozenset({"入力完了", "にゅうりょくかんりょう", "以上", "以上です", "完了", "おわり", "終わり"})
# Variants of the options the engine offers, declared with them (see flows.matching).
YES_WORDS = ("はい", "yes", "ok", "おけ", "了解", "りょうかい", "わかりました", "お願いします")
NO_WORDS = ("いいえ", "no", "いや", "だめ", "結構です")
CONFIRM_WORDS = ("送信", "送る", "おくる", "はい", "ok", "お願いします", "これでいい", "大丈夫")
EDIT_WORDS = ("修正", "しゅうせい", "直す", "なおす", "訂正", "変更", "直したい")
CANCEL_YES_WORDS = ("はい", "yes", "ok", "取り消す", "取り消します", "とりけす", "やめる")
CANCEL_NO_WORDS = ("いいえ", "no", "続ける", "続けます", "つづける", "戻る", "もどる", "やめない")
REWRITE_WORDS = ("書き直す", "かきなおす", "書き直し", "新しく", "最初から", "入れ替える", "置き換える")
APPEND_WORDS = ("追記", "ついき", "追加", "付け足す", "書き足す", "続き", "足す")


@dataclass(frozen=True)
class Step:
    """One question. Texts are keys into the wording file: `<flow>.<key>.prompt` and `.label`."""

    key: str
    kind: InputKind
    choices: tuple[Choice, ...] = ()
    optional: bool = False
    when: Callable[[Answers], bool] | None = None
    max_length: int = 200
    # A gate (the privacy notice): answering "no" ends the flow and nothing is kept.
    gate: bool = False
    # Shown in the summary and offered for editing.
    editable: bool = True
    # A variant of the question for these answers: `<flow>.<key>.prompt_<variant>` (an individual is
    # asked お名前, an organisation's contact ご担当の方のお名前); None asks `.prompt`.
    variant: Callable[[Answers], str | None] | None = None
    # Answers that no longer hold when this one changes (a new name needs its ふりがな again).
    resets: tuple[str, ...] = ()

    def applies(self, answers: Answers) -> bool:
        return self.when is None or self.when(answers)


@dataclass(frozen=True)
class Flow:
    name: str
    steps: tuple[Step, ...]

    def step(self, key: str) -> Step:
        for step in self.steps:
            if step.key == key:
                return step
        raise KeyError(f"flow {self.name} has no step {key!r}")


@dataclass(frozen=True)
class State:
    """Where a citizen stands in a flow (stored through flows/state.py)."""

    step: str
    answers: dict[str, Any] = field(default_factory=dict)
    history: tuple[str, ...] = ()
    buffer: tuple[str, ...] = ()
    editing: bool = False
    # The page of a long list of choices the citizen is looking at (see flows.paging).
    page: int = 0
    # A question of the engine's own waiting at this step: PENDING_CANCEL or PENDING_REWRITE.
    pending: str = ""
    # Kept aside after a long silence (flows/idle.py): the citizen resumes it or starts again.
    draft: bool = False


Outcome = Literal["continue", "cancelled", "declined", "confirmed"]


@dataclass(frozen=True)
class Result:
    state: State | None
    messages: list[Outgoing]
    outcome: Outcome = "continue"


class Engine:
    def __init__(self, flow: Flow, texts: Texts, values: Mapping[str, Any] | None = None) -> None:
        self.flow = flow
        self.texts = texts
        # Placeholders the flow's questions may use besides {max} (the intake's {policy}).
        self.values = dict(values or {})

    # -- entry points -----------------------------------------------------------------

    def start(self) -> Result:
        state = State(step=self.flow.steps[0].key)
        return Result(state, self.prompt(state))

    def prompt(self, state: State) -> list[Outgoing]:
        """The question the citizen is at, asked again (after help, a nudge, or a restart)."""
        if state.pending == PENDING_CANCEL:
            return [self._cancel_question()]
        if state.pending == PENDING_REWRITE:
            return self._rewrite_question(state, with_text=True)
        if state.step == SUMMARY:
            return self._summary(state)
        if state.step == EDIT_PICK:
            return self._edit_pick(state)
        return [self._ask(self.flow.step(state.step), state)]

    def handle(self, state: State, inbound: Inbound) -> Result:
        word = _word(inbound)
        if state.pending == PENDING_CANCEL:
            return self._at_cancel_question(state, inbound, word)
        if word == CANCEL or matching.says(word, CANCEL_WORDS):
            return self._cancel_asked(state)
        if state.pending == PENDING_REWRITE:
            return self._at_rewrite_question(state, inbound, word)
        turned = self._turn_page(state, word)
        if turned is not None:
            return turned
        if word == BACK or matching.says(word, BACK_WORDS):
            return self._back(state)
        if word == RESUME:
            return Result(state, self.prompt(state))
        if inbound.kind not in ("text", "choice"):
            return self._not_text(state, inbound)
        if state.step == SUMMARY:
            return self._at_summary(state, inbound)
        if state.step == EDIT_PICK:
            return self._at_edit_pick(state, inbound)
        return self._answer(state, self.flow.step(state.step), inbound, word)

    # -- answering a step -------------------------------------------------------------

    def _answer(self, state: State, step: Step, inbound: Inbound, word: str) -> Result:
        if step.optional and (word == SKIP or matching.says(word, SKIP_WORDS)):
            return self._advance(state, step, None)
        finishing = step.kind == "multi_text" and word == DONE
        if inbound.kind == "choice" and step.kind not in ("choice", "yes_no") and not finishing:
            # A button's value is never a typed answer (a second tap on the last question's button,
            # an old button: `collaboration` as a name). The question is asked again, harmlessly.
            return Result(state, [self._ask(step, state)])
        try:
            if step.kind == "multi_text":
                return self._multi_text(state, step, inbound, word)
            value = self._parse(step, inbound)
        except Invalid as invalid:
            said = self._t(invalid.key, max=step.max_length, **invalid.values)
            return Result(state, [Text(said), self._ask(step, state)])
        if step.gate and value == "no":
            return Result(None, [Text(self._t(f"{self.flow.name}.{step.key}.declined"))], "declined")
        return self._advance(state, step, value)

    def _parse(self, step: Step, inbound: Inbound) -> Any:
        if step.kind in ("choice", "yes_no"):
            return _chosen(_pick(inbound, self._options(step))).value
        typed = inbound.text
        if step.kind == "phone":
            return validators.phone(typed)
        if step.kind == "email":
            return validators.email(typed)
        if step.kind == "kana":
            return validators.kana(typed, step.max_length)
        return validators.free_text(typed, step.max_length)

    def _multi_text(self, state: State, step: Step, inbound: Inbound, word: str) -> Result:
        """Free text over several messages, finished with 入力完了 (tapped or typed). A part that
        would take the whole past the step's length is not taken; the parts before it are kept."""
        if word == DONE or matching.says(word, DONE_WORDS):
            if not state.buffer:
                raise Invalid("invalid.body_empty")
            return self._advance(replace(state, buffer=()), step, "\n".join(state.buffer))
        piece = inbound.text.strip()
        if not piece:
            raise Invalid("invalid.empty")
        kept = _length(state.buffer)
        if kept + len(piece) > step.max_length:
            key = "flow.text_over" if state.buffer else "flow.text_over_first"
            counts = {
                "length": len(piece),
                "kept": kept,
                "left": step.max_length - kept,
                "max": step.max_length,
            }
            return Result(state, [Text(self._t(key, **counts), choices=self._text_controls(state, step))])
        state = replace(state, buffer=(*state.buffer, piece))
        kept = _length(state.buffer)
        said = self._t("flow.more_text", kept=kept, left=step.max_length - kept, max=step.max_length)
        return Result(state, [Text(said, choices=self._text_controls(state, step))])

    def _text_controls(self, state: State, step: Step) -> tuple[Choice, ...]:
        done = (Choice(self._t("flow.done"), DONE),) if state.buffer else ()
        back = (self._back_choice(),) if state.history or state.editing else ()
        return (*done, *back, self._cancel())

    def _not_text(self, state: State, inbound: Inbound) -> Result:
        """A sticker, image, file or location where an answer was asked for: say what is wanted
        and ask again. Nothing sent here is kept; images are welcome once the consultation is in."""
        asked = self.prompt(state)
        step = None if state.step in (SUMMARY, EDIT_PICK) else self.flow.step(state.step)
        if step is None or step.kind in ("choice", "yes_no"):
            key = "invalid.choice"
        elif inbound.kind == "media":
            key = "flow.media_later"
        else:
            key = "flow.text_please"
        return Result(state, [Text(self._t(key)), *asked])

    def _advance(self, state: State, step: Step, value: Any) -> Result:
        answers = {**state.answers, step.key: value}
        if step.key in state.answers and state.answers[step.key] != value:
            answers = {k: v for k, v in answers.items() if k not in step.resets}
        history = state.history if state.editing else (*state.history, step.key)
        following = self._next_step(answers, after=None if state.editing else step.key)
        if following is None:
            summary = State(step=SUMMARY, answers=self._applicable(answers), history=history)
            return Result(summary, self._summary(summary))
        moved = replace(state, step=following.key, answers=answers, history=history, page=0)
        return self._arrive(moved, following)

    def _arrive(self, state: State, step: Step) -> Result:
        """Ask `step`; a text written over several messages that was already given is shown, with
        the choice to write it again or add to it, instead of being asked for from nothing."""
        if step.kind == "multi_text" and state.answers.get(step.key) and not state.buffer:
            asking = replace(state, pending=PENDING_REWRITE)
            return Result(asking, self._rewrite_question(asking, with_text=True))
        return Result(state, [self._ask(step, state)])

    def _next_step(self, answers: Answers, after: str | None) -> Step | None:
        """The next step to ask: after `after`, or (when editing) the first unanswered one."""
        seen = after is None
        for step in self.flow.steps:
            if not seen:
                seen = step.key == after
                continue
            if not step.applies(answers):
                continue
            if after is not None or step.key not in answers:
                return step
        return None

    def _applicable(self, answers: Answers) -> dict[str, Any]:
        """Answers of steps that still apply (changing 電話 to メール drops the phone number)."""
        keys = {s.key for s in self.flow.steps if s.applies(answers)}
        return {k: v for k, v in answers.items() if k in keys}

    def _back(self, state: State) -> Result:
        """One step back. The parts of a text being written are kept (`buffer`) and shown again
        when the citizen comes back to it; while editing, back is the summary, unchanged."""
        if state.step == EDIT_PICK or (state.editing and state.step != SUMMARY):
            summary = replace(state, step=SUMMARY, editing=False, buffer=(), page=0, pending="")
            return Result(summary, self._summary(summary))
        if not state.history:
            return Result(state, self.prompt(state))
        previous = state.history[-1]
        moved = replace(state, step=previous, history=state.history[:-1], page=0, pending="")
        return self._arrive(moved, self.flow.step(previous))

    # -- "really cancel?" -------------------------------------------------------------------

    def _cancel_asked(self, state: State) -> Result:
        """キャンセル ends the flow at once only when nothing would be lost; else it asks first."""
        gates = {s.key for s in self.flow.steps if s.gate}
        if not state.buffer and all(k in gates for k in state.answers):
            return Result(None, [Text(self._t("flow.cancelled"))], "cancelled")
        asking = replace(state, pending=PENDING_CANCEL)
        return Result(asking, [self._cancel_question()])

    def _cancel_options(self) -> tuple[Choice, ...]:
        return (
            Choice(self._t("flow.cancel_yes"), CANCEL_YES, CANCEL_YES_WORDS),
            Choice(self._t("flow.cancel_no"), CANCEL_NO, CANCEL_NO_WORDS),
        )

    def _cancel_question(self) -> Text:
        options = self._cancel_options()
        return Text(self._listed(self._t("flow.cancel_question"), options), choices=options)

    def _at_cancel_question(self, state: State, inbound: Inbound, word: str) -> Result:
        if word in (RESUME, BACK) or matching.says(word, BACK_WORDS):
            picked: Choice | None = self._cancel_options()[1]
            found = matching.Match(picked)
        else:
            found = (
                _pick(inbound, self._cancel_options())
                if inbound.kind in ("text", "choice")
                else matching.Match()
            )
        if found.choice is not None and found.choice.value == CANCEL_YES:
            return Result(None, [Text(self._t("flow.cancelled"))], "cancelled")
        if found.choice is not None:
            resumed = replace(state, pending="")
            kept = Text(self._t("flow.cancel_kept"))
            if resumed.step in (SUMMARY, EDIT_PICK):
                return Result(resumed, [kept, *self.prompt(resumed)])
            again = self._arrive(resumed, self.flow.step(resumed.step))
            return Result(again.state, [kept, *again.messages])
        key = "invalid.ambiguous" if found.ambiguous else "invalid.choice"
        return Result(state, [Text(self._t(key)), self._cancel_question()])

    # -- a text already given: write it again or add to it ----------------------------------

    def _rewrite_options(self) -> tuple[Choice, ...]:
        return (
            Choice(self._t("flow.rewrite"), REWRITE, REWRITE_WORDS),
            Choice(self._t("flow.append"), APPEND, APPEND_WORDS),
        )

    def _rewrite_question(self, state: State, with_text: bool) -> list[Outgoing]:
        options = self._rewrite_options()
        controls = (self._back_choice(),) if state.history or state.editing else ()
        question = Text(
            self._listed(self._t("flow.rewrite_question"), options),
            choices=(*options, *controls, self._cancel()),
        )
        if not with_text:
            return [question]
        current = str(state.answers.get(state.step, ""))
        return [Text(self._t("flow.current_text", text=current)), question]

    def _at_rewrite_question(self, state: State, inbound: Inbound, word: str) -> Result:
        step = self.flow.step(state.step)
        if word == BACK or matching.says(word, BACK_WORDS):
            return self._back(replace(state, pending=""))
        if inbound.kind not in ("text", "choice"):
            return Result(state, [Text(self._t("invalid.choice")), *self._rewrite_question(state, False)])
        found = _pick(inbound, self._rewrite_options())
        if found.choice is None:
            key = "invalid.ambiguous" if found.ambiguous else "invalid.choice"
            return Result(state, [Text(self._t(key)), *self._rewrite_question(state, False)])
        if found.choice.value == REWRITE:
            writing = replace(state, pending="", buffer=())
            return Result(writing, [self._ask(step, writing)])
        appending = replace(state, pending="", buffer=(str(state.answers[step.key]),))
        return Result(appending, [self._ask(step, appending)])

    # -- summary and edit -----------------------------------------------------------------

    def _summary_options(self) -> tuple[Choice, ...]:
        return (
            Choice(self._t("flow.confirm"), CONFIRM, CONFIRM_WORDS),
            Choice(self._t("flow.edit"), EDIT, EDIT_WORDS),
            self._cancel(),
        )

    def _at_summary(self, state: State, inbound: Inbound) -> Result:
        found = _pick(inbound, self._summary_options())
        if found.choice is not None and found.choice.value == CONFIRM:
            return Result(state, [], "confirmed")
        if found.choice is not None and found.choice.value == EDIT:
            picking = replace(state, step=EDIT_PICK, page=0)
            return Result(picking, self._edit_pick(picking))
        if found.choice is not None:
            return self._cancel_asked(state)
        key = "invalid.ambiguous" if found.ambiguous else "invalid.choice"
        return Result(state, [Text(self._t(key)), *self._summary(state)])

    def _at_edit_pick(self, state: State, inbound: Inbound) -> Result:
        paged = self._edit_paged(state)
        found = _pick(inbound, paged.options)
        if found.choice is not None:
            step = self.flow.step(found.choice.value.removeprefix(EDIT_PREFIX))
            editing = replace(state, step=step.key, editing=True, buffer=(), page=0)
            return self._arrive(editing, step)
        key = "invalid.ambiguous" if found.ambiguous else "invalid.choice"
        return Result(state, [Text(self._t(key)), *self._edit_pick(state)])

    def _editable(self, answers: Answers) -> list[Step]:
        return [s for s in self.flow.steps if s.editable and s.applies(answers)]

    def _summary(self, state: State) -> list[Outgoing]:
        lines = [self._t(f"{self.flow.name}.summary_title")]
        for step in self._editable(state.answers):
            lines.append(
                f"■{self._t(f'{self.flow.name}.{step.key}.label')}\n{self.display(step, state.answers)}"
            )
        options = self._summary_options()
        question = self._listed(self._t("flow.confirm_question"), options)
        return [Text("\n".join(lines)), Text(question, choices=options)]

    def _edit_paged(self, state: State) -> paging.Paged:
        options = tuple(
            Choice(self._t(f"{self.flow.name}.{s.key}.label"), EDIT_PREFIX + s.key)
            for s in self._editable(state.answers)
        )
        return paging.paginate(options, (self._back_choice(),), state.page, self.texts)

    def _edit_pick(self, state: State) -> list[Outgoing]:
        paged = self._edit_paged(state)
        return [Text(self._listed(self._t("flow.edit_which"), paged.options), choices=paged.choices)]

    # -- questions with options -------------------------------------------------------------

    def _options(self, step: Step) -> tuple[Choice, ...]:
        if step.kind == "yes_no" and not step.choices:
            return (Choice(self._t("flow.yes"), "yes", YES_WORDS), Choice(self._t("flow.no"), "no", NO_WORDS))
        return step.choices

    def _paged(self, step: Step, state: State) -> paging.Paged | None:
        """The page of a step's options being shown; None for a step without options."""
        if step.kind not in ("choice", "yes_no"):
            return None
        controls: list[Choice] = []
        if step.optional:
            controls.append(Choice(self._t("flow.skip"), SKIP))
        if state.history or state.editing:
            controls.append(self._back_choice())
        if not step.gate:
            controls.append(self._cancel())
        return paging.paginate(self._options(step), controls, state.page, self.texts)

    def _turn_page(self, state: State, word: str) -> Result | None:
        """Another page of the current question's options, when the word asks for one."""
        if state.step == SUMMARY:
            paged = None
        elif state.step == EDIT_PICK:
            paged = self._edit_paged(state)
        else:
            paged = self._paged(self.flow.step(state.step), state)
        page = None if paged is None else paging.turn(word, paged)
        if page is None:
            if word.startswith(paging.PAGE_PREFIX):  # an old page button of another question
                return Result(state, self.prompt(state))
            return None
        moved = replace(state, page=page)
        return Result(moved, self.prompt(moved))

    def _listed(self, prompt: str, options: tuple[Choice, ...]) -> str:
        """A question with its options numbered under it, to be answered by typing."""
        return f"{prompt}\n{paging.listing(options, self.texts)}"

    def display(self, step: Step, answers: Answers) -> str:
        """An answer as the citizen and staff read it (a choice's label, not its value)."""
        value = answers.get(step.key)
        if value is None:
            return self._t("flow.not_given")
        for choice in step.choices:
            if choice.value == value:
                return choice.label
        return str(value)

    # -- asking -----------------------------------------------------------------------

    def _prompt_key(self, step: Step, answers: Answers) -> str:
        variant = step.variant(answers) if step.variant is not None else None
        return f"{self.flow.name}.{step.key}.prompt" + (f"_{variant}" if variant else "")

    def _ask(self, step: Step, state: State) -> Text:
        prompt = self._t(self._prompt_key(step, state.answers), **{**self.values, "max": step.max_length})
        paged = self._paged(step, state)
        if paged is not None:
            return Text(self._listed(prompt, paged.options), choices=paged.choices)
        if step.kind == "multi_text":
            if state.buffer:
                kept = _length(state.buffer)
                prompt = self._t(
                    "flow.text_kept", kept=kept, left=step.max_length - kept, max=step.max_length
                )
            return Text(prompt, choices=self._text_controls(state, step))
        choices: list[Choice] = []
        if step.optional:
            choices.append(Choice(self._t("flow.skip"), SKIP))
        if state.history or state.editing:
            choices.append(self._back_choice())
        if not step.gate:
            choices.append(self._cancel())
        return Text(prompt, choices=tuple(choices))

    def _back_choice(self) -> Choice:
        return Choice(self._t("flow.back"), BACK)

    def _cancel(self) -> Choice:
        return Choice(self._t("flow.cancel"), CANCEL)

    def _t(self, key: str, **values: Any) -> str:
        return self.texts.get(key, **values)


def _word(inbound: Inbound) -> str:
    text = inbound.value if inbound.kind == "choice" else inbound.text
    return validators.normalise(text).lower()


def _length(parts: tuple[str, ...]) -> int:
    """Characters of a text written over several messages, as the citizen counts them."""
    return sum(len(p) for p in parts)


def _pick(inbound: Inbound, options: tuple[Choice, ...]) -> matching.Match:
    """The option a tapped button or a typed answer names. A button names its value exactly (an
    old button of another question names nothing); typing is matched as flows.matching says."""
    if inbound.kind == "choice":
        return matching.Match(next((c for c in options if c.value == inbound.value), None))
    return matching.match(inbound.text, options)


def _chosen(found: matching.Match) -> Choice:
    if found.choice is None:
        raise Invalid("invalid.ambiguous" if found.ambiguous else "invalid.choice")
    return found.choice
