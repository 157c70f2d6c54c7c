"""A small engine for guided conversations declared as data.

A `Flow` is a list of `Step`s. The engine is pure: it takes the stored state and one inbound event
and returns the new state and what to say, so it can be tested without a network, a database or a
clock of its own. Every flow gets the same controls: back one step, cancel at any point, a summary
where any single answer can be edited, and skip on optional steps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from flows import paging, validators
from flows.messages import Choice, Inbound, Outgoing, Text
from flows.texts import Texts
from flows.validators import Invalid

InputKind = Literal["choice", "yes_no", "text", "multi_text", "phone", "email", "preference"]
Answers = Mapping[str, Any]

BACK, CANCEL, SKIP, DONE = "flow:back", "flow:cancel", "flow:skip", "flow:done"
CONFIRM, EDIT, RESUME = "flow:confirm", "flow:edit", "flow:resume"
EDIT_PREFIX = "flow:edit:"
SUMMARY, EDIT_PICK = "_summary", "_edit"

CANCEL_WORDS = frozenset({"キャンセル", "やめる", "やめます", "中止", "取り消し", "cancel"})
BACK_WORDS = frozenset({"戻る", "もどる", "前へ", "back"})
SKIP_WORDS = frozenset({"スキップ", "なし", "特になし", "skip"})
DONE_WORDS = frozenset({"入力完了", "以上", "以上です", "完了"})
YES_WORDS = frozenset({"はい", "yes", "同意する", "同意します", "ok"})
NO_WORDS = frozenset({"いいえ", "no", "同意しない", "同意しません"})


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
    """Where a citizen stands: stored as JSON in the conversation row."""

    step: str
    answers: dict[str, Any] = field(default_factory=dict)
    history: tuple[str, ...] = ()
    buffer: tuple[str, ...] = ()
    editing: bool = False
    # The page of a long list of choices the citizen is looking at (see flows.paging).
    page: int = 0

    def to_data(self) -> dict[str, Any]:
        return {
            "answers": self.answers,
            "history": list(self.history),
            "buffer": list(self.buffer),
            "editing": self.editing,
            "page": self.page,
        }

    @classmethod
    def from_data(cls, step: str, data: Mapping[str, Any]) -> State:
        return cls(
            step=step,
            answers=dict(data.get("answers", {})),
            history=tuple(data.get("history", ())),
            buffer=tuple(data.get("buffer", ())),
            editing=bool(data.get("editing", False)),
            page=int(data.get("page", 0)),
        )


Outcome = Literal["continue", "cancelled", "declined", "confirmed"]


@dataclass(frozen=True)
class Result:
    state: State | None
    messages: list[Outgoing]
    outcome: Outcome = "continue"


class Engine:
    def __init__(self, flow: Flow, texts: Texts) -> None:
        self.flow = flow
        self.texts = texts

    # -- entry points -----------------------------------------------------------------

    def start(self) -> Result:
        state = State(step=self.flow.steps[0].key)
        return Result(state, self.prompt(state))

    def prompt(self, state: State) -> list[Outgoing]:
        """The question the citizen is at, asked again (after help, a nudge, or a restart)."""
        if state.step == SUMMARY:
            return self._summary(state)
        if state.step == EDIT_PICK:
            return self._edit_pick(state)
        return [self._ask(self.flow.step(state.step), state)]

    def handle(self, state: State, inbound: Inbound) -> Result:
        word = _word(inbound)
        if word == CANCEL or word in CANCEL_WORDS:
            return Result(None, [Text(self._t("flow.cancelled"))], "cancelled")
        turned = self._turn_page(state, word)
        if turned is not None:
            return turned
        if word == BACK or word in BACK_WORDS:
            return self._back(state)
        if word == RESUME:
            return Result(state, self.prompt(state))
        if inbound.kind not in ("text", "choice"):
            return Result(state, [Text(self._t("flow.text_please")), *self.prompt(state)])
        if state.step == SUMMARY:
            return self._at_summary(state, word)
        if state.step == EDIT_PICK:
            return self._at_edit_pick(state, word)
        return self._answer(state, self.flow.step(state.step), inbound, word)

    # -- answering a step -------------------------------------------------------------

    def _answer(self, state: State, step: Step, inbound: Inbound, word: str) -> Result:
        raw = inbound.value if inbound.kind == "choice" else inbound.text
        if step.optional and (word == SKIP or word in SKIP_WORDS):
            return self._advance(state, step, None)
        try:
            if step.kind == "multi_text":
                return self._multi_text(state, step, inbound, word)
            value = self._parse(step, state, raw, word)
        except Invalid as invalid:
            return Result(state, [Text(self._t(invalid.key, max=step.max_length)), self._ask(step, state)])
        if step.gate and value == "no":
            return Result(None, [Text(self._t(f"{self.flow.name}.{step.key}.declined"))], "declined")
        return self._advance(state, step, value)

    def _parse(self, step: Step, state: State, raw: str, word: str) -> Any:
        if step.kind == "choice":
            paged = self._paged(step, state)
            picked = paging.pick(word, step.choices, numbered=paged is not None and paged.paged)
            if picked is None:
                raise Invalid("invalid.choice")
            return picked.value
        if step.kind == "yes_no":
            if word in ("yes", *YES_WORDS):
                return "yes"
            if word in ("no", *NO_WORDS):
                return "no"
            raise Invalid("invalid.choice")
        if step.kind == "phone":
            return validators.phone(raw)
        if step.kind == "email":
            return validators.email(raw)
        return validators.free_text(raw, step.max_length)

    def _multi_text(self, state: State, step: Step, inbound: Inbound, word: str) -> Result:
        """Free text over several messages, finished with the 入力完了 button."""
        if word == DONE or word in DONE_WORDS:
            if not state.buffer:
                return Result(state, [Text(self._t("invalid.empty")), self._ask(step, state)])
            return self._advance(replace(state, buffer=()), step, "\n".join(state.buffer))
        if inbound.kind == "choice":
            raise Invalid("invalid.text")
        piece = validators.free_text(inbound.text, step.max_length)
        if sum(len(p) for p in state.buffer) + len(piece) > step.max_length:
            raise Invalid("invalid.too_long")
        state = replace(state, buffer=(*state.buffer, piece))
        done = Choice(self._t("flow.done"), DONE)
        return Result(
            state, [Text(self._t("flow.more_text"), choices=(done, self._back_choice(), self._cancel()))]
        )

    def _advance(self, state: State, step: Step, value: Any) -> Result:
        answers = {**state.answers, step.key: value}
        history = state.history if state.editing else (*state.history, step.key)
        following = self._next_step(answers, after=None if state.editing else step.key)
        if following is None:
            summary = State(step=SUMMARY, answers=self._applicable(answers), history=history)
            return Result(summary, self._summary(summary))
        moved = replace(state, step=following.key, answers=answers, history=history, page=0)
        return Result(moved, [self._ask(following, moved)])

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
        if state.step == EDIT_PICK or (state.editing and state.step != SUMMARY):
            summary = replace(state, step=SUMMARY, editing=False, buffer=(), page=0)
            return Result(summary, self._summary(summary))
        if not state.history:
            return Result(state, self.prompt(state))
        previous = state.history[-1]
        moved = replace(state, step=previous, history=state.history[:-1], buffer=(), page=0)
        return Result(moved, [self._ask(self.flow.step(previous), moved)])

    # -- summary and edit -----------------------------------------------------------------

    def _at_summary(self, state: State, word: str) -> Result:
        if word == CONFIRM or word in ("送信する", "送信", "はい"):
            return Result(state, [], "confirmed")
        if word == EDIT or word in ("修正する", "修正"):
            picking = replace(state, step=EDIT_PICK, page=0)
            return Result(picking, self._edit_pick(picking))
        return Result(state, [Text(self._t("invalid.choice")), *self._summary(state)])

    def _at_edit_pick(self, state: State, word: str) -> Result:
        paged = self._edit_paged(state)
        picked = paging.pick(word, paged.options, numbered=paged.paged)
        if picked is not None:
            step = self.flow.step(picked.value.removeprefix(EDIT_PREFIX))
            editing = replace(state, step=step.key, editing=True, buffer=(), page=0)
            return Result(editing, [self._ask(step, editing)])
        return Result(state, [Text(self._t("invalid.choice")), *self._edit_pick(state)])

    def _editable(self, answers: Answers) -> list[Step]:
        return [s for s in self.flow.steps if s.editable and s.applies(answers)]

    def _summary(self, state: State) -> list[Outgoing]:
        lines = [self._t(f"{self.flow.name}.summary_title")]
        for step in self._editable(state.answers):
            lines.append(
                f"■{self._t(f'{self.flow.name}.{step.key}.label')}\n{self.display(step, state.answers)}"
            )
        choices = (
            Choice(self._t("flow.confirm"), CONFIRM),
            Choice(self._t("flow.edit"), EDIT),
            self._cancel(),
        )
        return [Text("\n".join(lines)), Text(self._t("flow.confirm_question"), choices=choices)]

    def _edit_paged(self, state: State) -> paging.Paged:
        options = tuple(
            Choice(self._t(f"{self.flow.name}.{s.key}.label"), EDIT_PREFIX + s.key)
            for s in self._editable(state.answers)
        )
        return paging.paginate(options, (self._back_choice(),), state.page, self.texts)

    def _edit_pick(self, state: State) -> list[Outgoing]:
        paged = self._edit_paged(state)
        return [Text(self._with_listing(self._t("flow.edit_which"), paged), choices=paged.choices)]

    # -- long lists of choices ------------------------------------------------------------

    def _paged(self, step: Step, state: State) -> paging.Paged | None:
        """The page of a choice step's options being shown; None for other kinds of step."""
        if step.kind != "choice":
            return None
        controls: list[Choice] = []
        if step.optional:
            controls.append(Choice(self._t("flow.skip"), SKIP))
        if state.history or state.editing:
            controls.append(self._back_choice())
        if not step.gate:
            controls.append(self._cancel())
        return paging.paginate(step.choices, controls, state.page, self.texts)

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

    def _with_listing(self, prompt: str, paged: paging.Paged) -> str:
        return f"{prompt}\n{paging.listing(paged.options, self.texts)}" if paged.paged else prompt

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

    def _ask(self, step: Step, state: State) -> Text:
        prompt = self._t(f"{self.flow.name}.{step.key}.prompt", max=step.max_length)
        paged = self._paged(step, state)
        if paged is not None:
            return Text(self._with_listing(prompt, paged), choices=paged.choices)
        choices: list[Choice] = []
        if step.kind == "yes_no":
            choices += step.choices or (Choice(self._t("flow.yes"), "yes"), Choice(self._t("flow.no"), "no"))
        elif step.kind == "multi_text" and state.buffer:
            choices.append(Choice(self._t("flow.done"), DONE))
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
