"""The interview engine: a form asked one question at a time (issue #4, "Interviews").

Implements the field kit's side of docs/spec/survey-language.md. :class:`Interview` walks
a form in interview order (§4) asking only relevant questions (§7), parses what the
interviewer types for each answer type (§4.1), checks it with the same
:class:`~schemas.survey.Validator` the server uses (§5, §8; the form's own bilingual
constraint messages come back to be re-asked) and keeps the response in §8 shape: flat
names, repeats as lists of entries. Every stored answer is handed at once to
``on_change``, so the caller can save the encrypted draft ("every answer is saved the
moment it is given").

The flow is recomputed from the answers on every step, so skip logic, choice filters and
repeat groups always reflect what has been answered. Positions are *paths*:
``("birth_year",)``, ``("detention", 0, "detention_year")``; the question that asks
whether to add an entry to a repeat is addressed by the entry it would add,
``("detention", 1)``. Answers that stop being relevant after an edit are removed: a
non-relevant answer is an error (§8), and keeping it would record something the
respondent was never asked in that context.
"""

from __future__ import annotations

import copy
import datetime
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from schemas.errors import Problem, ResponseInvalid
from schemas.survey import (
    MAX_NUMBER,
    MAX_TEXT_ANSWER,
    AnswerFrame,
    Env,
    Form,
    FormNode,
    FormScope,
    Text,
    Validator,
    truthy,
)

__all__ = [
    "Interview",
    "Option",
    "Path",
    "Question",
    "Refusal",
    "ReviewEntry",
    "path_str",
]

#: Where an answer lives in the response: names and repeat entry indices.
Path = tuple[str | int, ...]
Rank = tuple[int, ...]

# The engine's own messages. Forms carry their own text in their languages; these fall
# back to English for a form language not listed here.
_MSG: dict[str, dict[str, str]] = {
    "integer": {"ko": "정수로 적어 주십시오 (예: 3).", "en": "Enter a whole number (e.g. 3)."},
    "decimal": {"ko": "숫자로 적어 주십시오 (예: 12.5).", "en": "Enter a number (e.g. 12.5)."},
    "too_big": {"ko": "숫자가 너무 큽니다.", "en": "That number is too large."},
    "year": {
        "ko": "1900년에서 2100년 사이의 연도를 네 자리 숫자로 적어 주십시오 (예: 1985).",
        "en": "Enter a year from 1900 to 2100 as four digits (e.g. 1985).",
    },
    "date": {
        "ko": "날짜를 YYYY-MM-DD 형식으로 적어 주십시오 (예: 2024-05-01).",
        "en": "Enter a date as YYYY-MM-DD (e.g. 2024-05-01).",
    },
    "boolean": {
        "ko": "예(y) 또는 아니요(n)로 답해 주십시오. 번호 1 또는 2도 됩니다.",
        "en": "Answer yes (y) or no (n), or type 1 or 2.",
    },
    "select_one": {
        "ko": "목록에서 번호 하나를 골라 적어 주십시오 (1–{n}).",
        "en": "Enter one number from the list (1–{n}).",
    },
    "select_multiple": {
        "ko": "목록의 번호를 띄어 써서 적어 주십시오 (예: 1 3).",
        "en": "Enter numbers from the list separated by spaces (e.g. 1 3).",
    },
    "control": {
        "ko": "답에 제어 문자가 들어 있습니다 (화살표 키 등). 다시 적어 주십시오.",
        "en": "The answer contains control characters (arrow keys, for example). Type it again.",
    },
    "duplicate": {
        "ko": "같은 항목을 두 번 고르셨습니다.",
        "en": "The same choice was given twice.",
    },
    "too_long": {
        "ko": "{n}자 이내로 적어 주십시오.",
        "en": "Keep this to {n} characters or fewer.",
    },
    "required": {
        "ko": "이 질문에는 답이 있어야 합니다. 응답자가 답하지 않으려 하시면 면담을 멈출 수 "
        "있습니다.",
        "en": "This question needs an answer. If the respondent does not want to answer, "
        "the interview can be stopped.",
    },
    "type": {
        "ko": "이 질문에 맞지 않는 답입니다.",
        "en": "That answer does not fit this question.",
    },
    "choice_filtered": {
        "ko": "이 경우에는 고를 수 없는 항목입니다.",
        "en": "That choice does not apply here.",
    },
    "duplicate_choice": {
        "ko": "같은 항목이 두 번 골라졌습니다.",
        "en": "A choice is selected twice.",
    },
    "not_relevant": {
        "ko": "해당하지 않는 질문에 답이 있습니다.",
        "en": "Answered, but the question does not apply.",
    },
    "too_few": {"ko": "항목이 더 필요합니다.", "en": "More entries are needed."},
    "too_many": {"ko": "항목이 너무 많습니다.", "en": "Too many entries."},
    "unknown_field": {"ko": "이 면담지에 없는 질문입니다.", "en": "No such question in this form."},
    "no_answer": {"ko": "답을 받지 않는 항목입니다.", "en": "This item takes no answer."},
    "add_first": {"ko": "{label} — 기록할 것이 있습니까?", "en": "{label}: add an entry?"},
    "add_more": {
        "ko": "{label} — 하나 더 추가하시겠습니까? (지금까지 {n}개)",
        "en": "{label}: add another? ({n} so far)",
    },
    "yes": {"ko": "예", "en": "Yes"},
    "no": {"ko": "아니요", "en": "No"},
}

_YES = frozenset({"y", "yes", "true", "t", "예", "네", "응", "ㅇ"})
_NO = frozenset({"n", "no", "false", "f", "아니요", "아니오", "아니", "ㄴ"})
_INT = re.compile(r"[+-]?[0-9]+")
_DEC = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_YEAR = re.compile(r"[0-9]{4}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_END: Rank = (1 << 62,)
#: Control characters other than tab: what arrow and function keys leave in a line.
# Control characters, and what broken input decodes to: lone surrogates (undecodable bytes
# under surrogateescape) and U+FFFD (under errors="replace"). All are typing mistakes.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff\ufffd]")


def path_str(path: Path) -> str:
    """The validator's spelling of a path: ``("detention", 0, "year")`` is
    ``$.detention[0].year``."""
    return "$" + "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in path)


def _parse_path(s: str) -> Path:
    out: list[str | int] = []
    for name, index in re.findall(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[([0-9]+)\]", s):
        out.append(name if name else int(index))
    return tuple(out)


def _tr(text: Mapping[str, str], lang: str) -> str:
    return text.get(lang) or text.get("en") or next(iter(text.values()), "")


def _answered(v: Any) -> bool:
    return v is not None and v != "" and v != []


@dataclass(frozen=True)
class Option:
    """One numbered choice of the current question (only those its filter allows)."""

    number: int
    value: str | bool
    label: str


@dataclass(frozen=True)
class Question:
    """What to show for the current step, in the interview's current language.

    ``kind`` is ``"question"`` for a form question and ``"add_another"`` for "add another
    entry to this repeat?" (answered yes/no, like a boolean). ``value`` is the stored
    answer (``None`` when unanswered) and ``shown`` the same as text.
    """

    path: Path
    kind: Literal["question", "add_another"]
    name: str
    type: str
    label: str
    hint: str | None
    options: tuple[Option, ...]
    required: bool
    value: Any
    shown: str | None
    notes: tuple[str, ...]
    section: str | None
    number: int
    total: int


@dataclass(frozen=True)
class ReviewEntry:
    """One answered question on the review screen."""

    number: int
    path: Path
    label: str
    shown: str
    section: str | None
    problem: str | None


@dataclass(frozen=True)
class Refusal:
    """Why a typed answer was not stored: ``text`` by language; ask again."""

    code: str
    text: dict[str, str]

    def message(self, lang: str) -> str:
        return _tr(self.text, lang)


@dataclass(frozen=True)
class _Step:
    path: Path
    rank: Rank
    kind: Literal["question", "add_another"]
    node: FormNode
    required: bool
    options: tuple[tuple[str | bool, Text], ...]
    notes: tuple[Text, ...]
    section: Text | None
    count: int


class Interview:
    """An interview over ``form``, resumable from the ``answers`` of a saved draft.

    ``on_change(answers)`` receives a copy of the whole response after every change
    (an answer stored, skipped away, or removed because it stopped applying).
    """

    def __init__(
        self,
        form: Form,
        answers: Mapping[str, Any] | None = None,
        lang: str = "ko",
        *,
        on_change: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.form = form
        self.on_change = on_change
        self._validator = Validator(form)
        self._top: FormScope = self._validator.top
        self._langs = tuple(dict.fromkeys((*form.languages, "ko", "en")))
        self._lang = form.default_language
        self.set_lang(lang)
        self._answers: dict[str, Any] = copy.deepcopy(dict(answers or {}))
        broken = [
            p
            for p in self._validator.validate(self._answers, stopped_early=True)
            if p.code in ("type", "unknown_field", "no_answer")
        ]
        if broken:
            raise ResponseInvalid(broken, source=f"draft of form '{form.id}' v{form.version}")
        self._stopped = False
        self._editing = False
        self._open: set[Path] = set()
        steps, _ = self._flow()
        done = [s for s in steps if s.kind == "question" and _answered(self._get(s.path))]
        self._seen: set[Path] = {s.path for s in done}
        # Resume after the last answer given (the first question of a new interview).
        last = done[-1].rank if done else ()
        self._cursor: _Step | None = next((s for s in steps if s.rank > last), None)

    # -- state ---------------------------------------------------------------------------

    @property
    def answers(self) -> dict[str, Any]:
        """A copy of the response so far (survey-language §8 shape)."""
        return copy.deepcopy(self._answers)

    @property
    def lang(self) -> str:
        return self._lang

    @property
    def stopped_early(self) -> bool:
        """True once the respondent has stopped the interview (:meth:`stop`)."""
        return self._stopped

    def set_lang(self, lang: str) -> None:
        """Show questions in ``lang`` from now on (one of the form's languages)."""
        if lang not in self.form.languages:
            raise ValueError(
                f"language {lang!r} is not one of this form's: {', '.join(self.form.languages)}"
            )
        self._lang = lang

    # -- asking ----------------------------------------------------------------------------

    def current(self) -> Question | None:
        """The question to ask now, or ``None`` when there is nothing left to ask."""
        step = self._current_step()
        if step is None:
            return None
        steps, _ = self._flow()
        number = next((i for i, s in enumerate(steps) if s.path == step.path), 0) + 1
        return self._question(step, number, len(steps))

    def end_notes(self) -> list[str]:
        """Notes that come after the last question (e.g. the closing thanks)."""
        _, notes = self._flow()
        return [_tr(n, self._lang) for n in notes]

    def answer(self, text: str) -> Refusal | None:
        """Answer the current question with what was typed; ``None`` when stored.

        An empty answer keeps the stored answer, skips an optional question and is
        refused for a required one. A :class:`Refusal` says, in every language, why the
        answer was not taken: a typing mistake or a broken rule of the form.
        """
        step = self._require_step()
        text = text.strip()
        if step.kind == "add_another":
            return self._add_another(step, text)
        if text == "":
            if not _answered(self._get(step.path)) and step.required:
                return self._refuse("required")
            self._seen.add(step.path)
            self._advance(step)
            return None
        parsed = self._parse(step, text)
        if isinstance(parsed, Refusal):
            return parsed
        return self._store(step, parsed)

    def skip(self) -> Refusal | None:
        """Leave the current question unanswered (removing an earlier answer) and go on."""
        step = self._require_step()
        if step.kind == "add_another":
            return self._add_another(step, "n")
        if step.required:
            return self._refuse("required")
        self._seen.add(step.path)
        if self._get(step.path) is not None:
            new = copy.deepcopy(self._answers)
            _delete(new, step.path)
            self._prune(new)
            self._commit(new)
        self._advance(step)
        return None

    def drops(self, text: str | None) -> list[Path]:
        """Answers that answering ``text`` (``None``: skipping) would remove as no longer
        relevant; empty if nothing would be lost or ``text`` is not a valid answer."""
        step = self._current_step()
        if step is None or step.kind == "add_another":
            return []
        new = copy.deepcopy(self._answers)
        if text is None or not text.strip():
            if text is not None or step.required:
                return []
            _delete(new, step.path)
        else:
            value = self._parse(step, text.strip())
            if isinstance(value, Refusal):
                return []
            _set(new, step.path, value)
        self._prune(new)
        after = set(_leaves(new))
        return [p for p in _leaves(self._answers) if p not in after and p != step.path]

    def back(self) -> bool:
        """Go to the previous question; ``False`` at the first one."""
        steps, _ = self._flow()
        here = self._cursor.rank if self._cursor is not None else _END
        before = [s for s in steps if s.rank < here]
        if not before:
            return False
        self._cursor = before[-1]
        return True

    def change(self, path: Path) -> None:
        """Go to the question at ``path`` to change its answer (e.g. from the review).

        After it is answered, questions that this makes newly relevant are asked; then
        :meth:`current` is ``None`` again.
        """
        steps, _ = self._flow()
        for s in steps:
            if s.path == tuple(path):
                self._cursor = s
                self._editing = True
                return
        raise KeyError(f"no question at {path_str(tuple(path))} in the interview as answered")

    def stop(self) -> None:
        """The respondent stops: ask nothing more; the response is ``stopped_early``."""
        self._stopped = True
        self._cursor = None
        self._editing = False

    # -- reviewing ---------------------------------------------------------------------------

    def review(self) -> list[ReviewEntry]:
        """Every answered question, in interview order, with its answer as text."""
        problems: dict[str, str] = {}
        # Every problem (keep=None): the review marks each answered question that has one.
        found = self._validator.validate(self._answers, stopped_early=self._stopped, keep=None)
        for p in found:
            problems.setdefault(p.path, self._problem_message(p))
        out: list[ReviewEntry] = []
        steps, _ = self._flow()
        for s in steps:
            v = self._get(s.path)
            if s.kind != "question" or not _answered(v):
                continue
            out.append(
                ReviewEntry(
                    number=len(out) + 1,
                    path=s.path,
                    label=_tr(s.node.item.label, self._lang),
                    shown=self._show(s, v),
                    section=_tr(s.section, self._lang) if s.section else None,
                    problem=problems.get(path_str(s.path)),
                )
            )
        return out

    def finalize(self) -> list[Problem]:
        """Every problem of the response as the server will see it; ``[]`` to finalize."""
        return self._validator.validate(self._answers, stopped_early=self._stopped)

    def label_of(self, path: Path) -> str:
        """A question's label for messages, with the repeat entry it belongs to."""
        names = [s for s in path if isinstance(s, str)]
        try:
            label = _tr(self.form.item(names[-1]).label, self._lang)
        except (KeyError, IndexError):
            return path_str(path)
        for i, seg in enumerate(path):
            if isinstance(seg, int) and i > 0 and isinstance(path[i - 1], str):
                rep = _tr(self.form.item(str(path[i - 1])).label, self._lang)
                label = f"[{_short(rep)} {seg + 1}] {label}"
        return label

    def describe(self, problem: Problem) -> str:
        """A problem of :meth:`finalize` for the interviewer, in the current language."""
        return f"{self.label_of(_parse_path(problem.path))}: {self._problem_message(problem)}"

    # -- the flow ---------------------------------------------------------------------------

    def _flow(self) -> tuple[list[_Step], list[Text]]:
        steps: list[_Step] = []
        notes: list[Text] = []
        self._walk(self._top, self._answers, None, (), (), None, steps, notes)
        return steps, notes

    def _walk(
        self,
        scope: FormScope,
        values: Mapping[str, Any],
        outer: AnswerFrame | None,
        prefix: Path,
        rank: Rank,
        entry: Text | None,
        steps: list[_Step],
        notes: list[Text],
    ) -> None:
        frame = AnswerFrame(scope, values, outer, set(), path_str(prefix))
        for idx, node in enumerate(scope.nodes):
            if node.type == "group" or not frame.relevant(node):
                continue
            if node.type == "note":
                notes.append(node.item.label)
                continue
            path, here = (*prefix, node.name), (*rank, idx)
            section = entry
            if section is None and node.parent is not None:
                section = node.parent.item.label
            if node.type == "repeat":
                assert node.scope is not None
                raw = values.get(node.name)
                entries = raw if isinstance(raw, list) else []
                for i, e in enumerate(entries):
                    if not isinstance(e, Mapping):
                        continue
                    self._walk(
                        node.scope, e, frame, (*path, i), (*here, i),
                        self._entry(node, i), steps, notes,
                    )  # fmt: skip
                k, lo = len(entries), node.item.min_count or 0
                if k >= (node.item.max_count or 1000):
                    continue
                if k >= lo:
                    steps.append(
                        _Step((*path, k), (*here, k, -1), "add_another", node, True,
                              self._bool_options(), tuple(notes), section, k)
                    )  # fmt: skip
                    notes.clear()
                if k < lo or path in self._open:
                    self._walk(
                        node.scope, {}, frame, (*path, k), (*here, k),
                        self._entry(node, k), steps, notes,
                    )  # fmt: skip
                continue
            required = node.req is True or (
                not isinstance(node.req, bool) and truthy(node.req(frame))
            )
            steps.append(
                _Step(path, here, "question", node, required, self._options(node, frame),
                      tuple(notes), section, 0)
            )  # fmt: skip
            notes.clear()

    def _entry(self, node: FormNode, i: int) -> Text:
        return {lang: f"{_short(text)} {i + 1}" for lang, text in node.item.label.items()}

    def _options(self, node: FormNode, frame: AnswerFrame) -> tuple[tuple[str | bool, Text], ...]:
        if node.type == "boolean":
            return self._bool_options()
        if node.item.choices is None:
            return ()
        out: list[tuple[str | bool, Text]] = []
        for c in self.form.choices[node.item.choices]:
            if node.filter is None or truthy(node.filter(Env(frame.lookup, props=c.properties))):
                out.append((c.value, c.label))
        return tuple(out)

    def _bool_options(self) -> tuple[tuple[str | bool, Text], ...]:
        return ((True, self._text("yes")), (False, self._text("no")))

    def _current_step(self) -> _Step | None:
        if self._cursor is None or (self._stopped and not self._editing):
            return None
        steps, _ = self._flow()
        for s in steps:
            if s.path == self._cursor.path:
                self._cursor = s
                return s
        # The step vanished (an edit made it irrelevant): go on from where it was.
        self._cursor = next((s for s in steps if s.rank > self._cursor.rank), None)
        return self._cursor

    def _require_step(self) -> _Step:
        step = self._current_step()
        if step is None:
            raise RuntimeError("there is no question to answer: review and finalize")
        return step

    def _advance(self, step: _Step, *, into_entry: bool = False) -> None:
        if self._stopped:
            self._cursor, self._editing = None, False
            return
        steps, _ = self._flow()
        later = [s for s in steps if s.rank > step.rank]
        if self._editing and not into_entry:
            later = [
                s for s in later if s.path not in self._seen and not _answered(self._get(s.path))
            ]
        self._cursor = later[0] if later else None
        if self._cursor is None:
            self._editing = False

    def _question(self, step: _Step, number: int, total: int) -> Question:
        lang = self._lang
        item = step.node.item
        if step.kind == "add_another":
            key = "add_more" if step.count else "add_first"
            label = (
                _MSG[key]
                .get(lang, _MSG[key]["en"])
                .format(label=_tr(item.label, lang), n=step.count)
            )
            hint = None
            value: Any = True if step.path[:-1] in self._open else None
        else:
            label = _tr(item.label, lang)
            hint = _tr(item.hint, lang) if item.hint else None
            value = self._get(step.path)
        return Question(
            path=step.path,
            kind=step.kind,
            name=item.name,
            type="boolean" if step.kind == "add_another" else item.type,
            label=label,
            hint=hint,
            options=tuple(Option(i + 1, v, _tr(t, lang)) for i, (v, t) in enumerate(step.options)),
            required=step.required,
            value=value,
            shown=self._show(step, value) if _answered(value) else None,
            notes=tuple(_tr(n, lang) for n in step.notes),
            section=_tr(step.section, lang) if step.section else None,
            number=number,
            total=total,
        )

    # -- parsing and storing ------------------------------------------------------------------

    def _text(self, key: str, **fmt: Any) -> dict[str, str]:
        m = _MSG[key]
        return {lang: m.get(lang, m["en"]).format(**fmt) for lang in self._langs}

    def _refuse(self, key: str, **fmt: Any) -> Refusal:
        return Refusal(key, self._text(key, **fmt))

    def _parse(self, step: _Step, text: str) -> Any:
        if _CONTROL.search(text):
            return self._refuse("control")
        t = step.node.type
        if t == "text":
            if len(text) > MAX_TEXT_ANSWER:
                return self._refuse("too_long", n=MAX_TEXT_ANSWER)
            return text
        if t in ("integer", "year"):
            if not (_YEAR if t == "year" else _INT).fullmatch(text):
                return self._refuse(t)
            n = int(text)
            if t == "year" and not 1900 <= n <= 2100:
                return self._refuse("year")
            return n if abs(n) <= MAX_NUMBER else self._refuse("too_big")
        if t == "decimal":
            if not _DEC.fullmatch(text):
                return self._refuse("decimal")
            x = float(text)
            return x if abs(x) <= MAX_NUMBER else self._refuse("too_big")
        if t == "date":
            try:
                if not _DATE.fullmatch(text):
                    raise ValueError(text)
                return datetime.date.fromisoformat(text).isoformat()
            except ValueError:
                return self._refuse("date")
        picked: list[str | bool] = []
        words = re.split(r"[\s,]+", text) if t == "select_multiple" else [text]
        for word in words:
            v = self._pick(step, word)
            if v is None:
                n = len(step.options)
                return self._refuse(t, n=n) if t != "boolean" else self._refuse("boolean")
            if v in picked:
                return self._refuse("duplicate")
            picked.append(v)
        return picked if t == "select_multiple" else picked[0]

    def _pick(self, step: _Step, word: str) -> str | bool | None:
        if word.isascii() and word.isdigit() and 1 <= int(word) <= len(step.options):
            return step.options[int(word) - 1][0]
        if step.node.type == "boolean" or step.kind == "add_another":
            low = word.lower()
            return True if low in _YES else False if low in _NO else None
        return next((v for v, _ in step.options if v == word), None)

    def _add_another(self, step: _Step, text: str) -> Refusal | None:
        v = self._pick(step, text) if text else None
        if not isinstance(v, bool):
            return self._refuse("boolean")
        self._seen.add(step.path)
        repeat = step.path[:-1]
        if v:
            self._open.add(repeat)
        else:
            self._open.discard(repeat)
        self._advance(step, into_entry=v)
        return None

    def _store(self, step: _Step, value: Any) -> Refusal | None:
        new = copy.deepcopy(self._answers)
        _set(new, step.path, value)
        where = path_str(step.path)
        problems = [p for p in self._validator.validate(new, stopped_early=True) if p.path == where]
        if problems:
            text: dict[str, str] = {}
            for lang in self._langs:
                text[lang] = "\n".join(
                    _tr(p.text, lang) if p.text else _tr(_MSG.get(p.code, _MSG["type"]), lang)
                    for p in problems
                )
            return Refusal(problems[0].code, text)
        for i, seg in enumerate(step.path):
            if isinstance(seg, int):
                entries = _get(self._answers, step.path[:i])
                if seg >= (len(entries) if isinstance(entries, list) else 0):
                    self._open.discard(step.path[:i])
        self._prune(new)
        self._seen.add(step.path)
        self._commit(new)
        self._advance(step)
        return None

    def _commit(self, new: dict[str, Any]) -> None:
        self._answers = new
        # Questions that no longer apply are new again if they come back into the flow.
        steps, _ = self._flow()
        paths = {s.path for s in steps}
        self._seen &= paths
        self._open = {r for r in self._open if any(p[: len(r)] == r for p in paths)}
        if self.on_change is not None:
            self.on_change(copy.deepcopy(new))

    def _prune(self, answers: dict[str, Any]) -> None:
        """Remove every answer that is not relevant (one pass suffices, §6.1, §7)."""

        def scope(sc: FormScope, values: dict[str, Any], outer: AnswerFrame | None) -> None:
            frame = AnswerFrame(sc, values, outer, set(), "$")
            drop = [n.name for n in sc.checked if n.name in values and not frame.relevant(n)]
            for n in sc.checked:
                v = values.get(n.name)
                if n.type == "repeat" and n.name not in drop and isinstance(v, list):
                    assert n.scope is not None
                    for e in v:
                        if isinstance(e, dict):
                            scope(n.scope, e, frame)
            for name in drop:
                del values[name]

        scope(self._top, answers, None)

    def _get(self, path: Path) -> Any:
        return _get(self._answers, path)

    # -- showing answers -----------------------------------------------------------------------

    def _show(self, step: _Step, value: Any) -> str:
        labels = {v: _tr(t, self._lang) for v, t in step.options}
        t = step.node.type if step.kind == "question" else "boolean"
        if t == "boolean":
            return _tr(self._text("yes" if value else "no"), self._lang)
        if t in ("select_one", "select_multiple") and step.node.item.choices:
            every = {c.value: c.label for c in self.form.choices[step.node.item.choices]}
            names = value if isinstance(value, list) else [value]
            shown = (labels.get(v) or _tr(every.get(v, {"en": str(v)}), self._lang) for v in names)
            return "; ".join(shown)
        return str(value)

    def _problem_message(self, p: Problem) -> str:
        if p.text:
            return _tr(p.text, self._lang)
        return _tr(_MSG.get(p.code, {"en": p.message}), self._lang)


def _short(label: str) -> str:
    """A repeat's label without its parenthesised explanation: "Detention (one entry…)"."""
    return label.split(" (", 1)[0].strip() or label


def _get(answers: Any, path: Path) -> Any:
    cur = answers
    for seg in path:
        if isinstance(seg, int):
            if not isinstance(cur, list) or seg >= len(cur):
                return None
        elif not isinstance(cur, Mapping):
            return None
        cur = cur[seg] if isinstance(seg, int) else cur.get(seg)
    return cur


def _set(answers: dict[str, Any], path: Path, value: Any) -> None:
    cur: Any = answers
    for i, seg in enumerate(path[:-1]):
        nxt = path[i + 1]
        if isinstance(seg, str):
            if not isinstance(cur.get(seg), list if isinstance(nxt, int) else dict):
                cur[seg] = [] if isinstance(nxt, int) else {}
            cur = cur[seg]
        else:
            while len(cur) <= seg:
                cur.append({})
            cur = cur[seg]
    cur[path[-1]] = value


def _delete(answers: dict[str, Any], path: Path) -> None:
    parent = _get(answers, path[:-1])
    if isinstance(parent, dict):
        parent.pop(str(path[-1]), None)


def _leaves(values: Mapping[str, Any], prefix: Path = ()) -> Iterator[Path]:
    for name, v in values.items():
        if isinstance(v, list) and v and all(isinstance(e, Mapping) for e in v):
            for i, e in enumerate(v):
                yield from _leaves(e, (*prefix, name, i))
        elif _answered(v):
            yield (*prefix, name)
