"""Compiled response validation (docs/spec/survey-language.md §8).

:class:`Validator` compiles a form once: a msgspec struct type per scope (the top level
and each repeat group) checks types, unknown names and choice membership in C; compiled
expression closures then decide relevance, required-when-relevant and constraints. Every
problem is reported with its path (``$.detention[1].year``), never with the answer itself,
and says what would be accepted (the choice codes, the range, the names of the form).

Work and output are bounded by the input, whatever it holds: a repeat is checked up to its
``max_count`` entries (more are one ``too_many`` problem, not more work), and at most
``keep`` problems are kept (by default :data:`MAX_PROBLEMS`), the rest only counted
(survey-language.md §8.2).
"""

from __future__ import annotations

import datetime
import difflib
import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

import msgspec

from ..errors import Problem, ResponseInvalid
from ._expr import Compiled, Env, compile_node, parse, truthy
from ._model import ANSWER_TYPES, Constraint, Form, Item, Text
from ._regex import compile_pattern

__all__ = [
    "MAX_NUMBER",
    "MAX_PROBLEMS",
    "MAX_TEXT_ANSWER",
    "AnswerFrame",
    "FormNode",
    "FormScope",
    "Validator",
]

#: Longest text answer accepted, in characters.
MAX_TEXT_ANSWER = 20_000
YEAR_MIN, YEAR_MAX = 1900, 2100
#: Numbers are bounded to what every JSON and msgpack peer represents exactly.
MAX_NUMBER = 2**53
#: Entries a repeat without ``max_count`` may hold (the most ``max_count`` may say).
REPEAT_MAX = 1000
#: Problems kept per response by default; the rest are counted (survey-language.md §8.2).
MAX_PROBLEMS = 100
#: Choice codes listed in a message; a longer list ends with how many there are.
_SHOWN_CHOICES = 30
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")

Check = Callable[[Any, Callable[[str], Any]], bool]


class FormNode:
    __slots__ = (
        "item",
        "name",
        "type",
        "parent",
        "rel",
        "req",
        "checks",
        "choices",
        "filter",
        "scope",
        "answerable",
    )

    def __init__(self, item: Item, parent: FormNode | None) -> None:
        self.item = item
        self.name = item.name
        self.type = item.type
        self.parent = parent
        self.rel: Compiled | None = compile_node(parse(item.relevant)) if item.relevant else None
        self.req: bool | Compiled = (
            compile_node(parse(item.required)) if isinstance(item.required, str) else item.required
        )
        self.checks: list[tuple[Check, Text]] = []
        self.choices: dict[str, Mapping[str, str]] | None = None
        self.filter: Compiled | None = (
            compile_node(parse(item.choice_filter)) if item.choice_filter else None
        )
        self.scope: FormScope | None = None
        self.answerable = item.type in ANSWER_TYPES


class FormScope:
    """The items answered in one mapping: the top level, or one instance of a repeat."""

    def __init__(self, form: Form, items: tuple[Item, ...]) -> None:
        self.nodes: list[FormNode] = []
        self.by_name: dict[str, FormNode] = {}
        self._collect(form, items, None)
        #: The nodes a response can answer (questions and repeats), in order.
        self.checked = [n for n in self.nodes if n.answerable or n.type == "repeat"]
        self.lists = [n for n in self.nodes if n.type in ("select_multiple", "repeat")]
        fields: list[tuple[str, Any, Any]] = []
        for n in self.nodes:
            t = _field_type(form, n)
            if t is not None:
                fields.append((n.name, t | None, None))
        self.struct: type[msgspec.Struct] = msgspec.defstruct(
            "Answers", fields, forbid_unknown_fields=True, kw_only=True
        )

    def _collect(self, form: Form, items: tuple[Item, ...], parent: FormNode | None) -> None:
        for it in items:
            node = FormNode(it, parent)
            if it.choices is not None:
                node.choices = {c.value: c.properties for c in form.choices[it.choices]}
            node.checks = [_compile_constraint(it, c) for c in it.constraints]
            self.nodes.append(node)
            self.by_name[it.name] = node
            if it.type == "group":
                self._collect(form, it.items, node)
            elif it.type == "repeat":
                node.scope = FormScope(form, it.items)


def _field_type(form: Form, n: FormNode) -> Any:
    it = n.item
    t = it.type
    if t == "text":
        return Annotated[str, msgspec.Meta(max_length=MAX_TEXT_ANSWER)]
    if t == "integer":
        return Annotated[int, msgspec.Meta(ge=-MAX_NUMBER, le=MAX_NUMBER)]
    if t == "decimal":
        return Annotated[float, msgspec.Meta(ge=-MAX_NUMBER, le=MAX_NUMBER)]
    if t == "boolean":
        return bool
    if t == "date":
        return datetime.date
    if t == "year":
        return Annotated[int, msgspec.Meta(ge=YEAR_MIN, le=YEAR_MAX)]
    if t in ("select_one", "select_multiple"):
        values = tuple(c.value for c in form.choices[it.choices or ""])
        if t == "select_one":
            # "" is accepted as "unanswered", as it is for text.
            one: Any = Literal[(*values, "")]
            return one
        lit: Any = Literal[values]
        return Annotated[list[lit], msgspec.Meta(max_length=len(values))]
    if t == "repeat":
        assert n.scope is not None
        hi = it.max_count if it.max_count is not None else REPEAT_MAX
        return Annotated[list[n.scope.struct], msgspec.Meta(max_length=hi)]  # type: ignore[name-defined]
    return None  # note, group: no answer


def _as_cmp(v: Any) -> Any:
    return v.isoformat() if isinstance(v, datetime.date) else v


def _compile_constraint(it: Item, c: Constraint) -> tuple[Check, Text]:
    kind = c.kind
    if kind == "range":
        lo, hi = c.min, c.max

        def check_range(v: Any, _lookup: Callable[[str], Any]) -> bool:
            v = _as_cmp(v)
            return (lo is None or v >= lo) and (hi is None or v <= hi)

        return check_range, c.message
    if kind == "length":
        mn, mx = c.min_length, c.max_length

        def check_length(v: Any, _lookup: Callable[[str], Any]) -> bool:
            n = len(v)
            return (mn is None or n >= mn) and (mx is None or n <= mx)

        return check_length, c.message
    if kind == "pattern":
        rx = compile_pattern(c.pattern or "")
        return (lambda v, _l: rx.fullmatch(v) is not None), c.message
    fn = compile_node(parse(c.expr or ""))
    return (lambda v, lookup: truthy(fn(Env(lookup, dot=_as_cmp(v))))), c.message


def _answered(v: Any) -> bool:
    return v is not None and v != "" and v != []


_TYPE_WORDS = {
    "text": "text",
    "integer": "a whole number within ±2^53",
    "decimal": "a finite number within ±2^53",
    "boolean": "true or false",
    "date": "a date (YYYY-MM-DD)",
    "year": f"a year ({YEAR_MIN}-{YEAR_MAX})",
    "select_one": "one choice value",
    "select_multiple": "a list of choice values",
    "repeat": "a list of entries",
}


class AnswerFrame:
    """One evaluation of a scope against one mapping of answers.

    A frame is also the expression environment for relevance and required-if
    expressions (it has ``lookup``, ``dot`` and ``props``, like :class:`Env`).
    """

    __slots__ = ("scope", "values", "outer", "bad", "memo", "path")
    dot = None
    props: Mapping[str, str] = {}

    def __init__(
        self,
        scope: FormScope,
        values: Mapping[str, Any],
        outer: AnswerFrame | None,
        bad: set[str],
        path: str,
    ) -> None:
        self.scope = scope
        self.values = values
        self.outer = outer
        self.bad = bad
        self.memo: dict[str, bool] = {}
        self.path = path

    def lookup(self, name: str) -> Any:
        node = self.scope.by_name.get(name)
        if node is None:
            return self.outer.lookup(name) if self.outer is not None else None
        if name in self.bad or not self.relevant(node):
            return None
        v = self.values.get(name)
        if node.type == "repeat":
            return v if isinstance(v, list) else []
        return _as_cmp(v)

    def relevant(self, node: FormNode) -> bool:
        r = self.memo.get(node.name)
        if r is None:
            r = (node.parent is None or self.relevant(node.parent)) and (
                node.rel is None or truthy(node.rel(self))
            )
            self.memo[node.name] = r
        return r


class Validator:
    """A form compiled for checking responses. Build once per form version; reuse."""

    def __init__(self, form: Form) -> None:
        self.form = form
        self._top = FormScope(form, form.items)
        self._lang = "en" if "en" in form.languages else form.default_language

    @property
    def top(self) -> FormScope:
        """The compiled top level of the form: what an interview walks to know which
        questions apply (:class:`FormScope`, :class:`FormNode`, :class:`AnswerFrame`)."""
        return self._top

    @property
    def answers_type(self) -> type[msgspec.Struct]:
        """The msgspec struct type of a response's top-level answers."""
        return self._top.struct

    def check(self, answers: Mapping[str, Any], *, stopped_early: bool = False) -> None:
        """Raise :class:`~schemas.errors.ResponseInvalid` with the problems, if any (at
        most :data:`MAX_PROBLEMS`, then how many more there are)."""
        problems = self.validate(answers, stopped_early=stopped_early)
        if problems:
            raise ResponseInvalid(problems, source=f"form '{self.form.id}' v{self.form.version}")

    def validate(
        self,
        answers: Mapping[str, Any],
        *,
        stopped_early: bool = False,
        keep: int | None = MAX_PROBLEMS,
    ) -> list[Problem]:
        """The problems of ``answers``, each with its path; an empty list means valid.

        ``stopped_early`` is for an interview the respondent ended: unanswered required
        questions and repeats below their minimum are then not problems; everything that
        *was* answered is checked as usual. At most ``keep`` problems are returned (None:
        all), in the order found; when there were more, one last problem with the code
        ``more_problems`` says how many were not kept.
        """
        if not isinstance(answers, Mapping):
            return [Problem(path="$", code="type", message="answers must be a mapping")]
        out = _Kept(keep)
        self._scope(self._top, answers, None, "$", out, stopped_early)
        return out.problems()

    # -- one scope ---------------------------------------------------------------------

    def _scope(
        self,
        scope: FormScope,
        values: Mapping[str, Any],
        outer: AnswerFrame | None,
        path: str,
        out: _Kept,
        stopped_early: bool = False,
    ) -> None:
        bad: set[str] = set()
        try:
            msgspec.convert(values, scope.struct, str_keys=True)
        except msgspec.ValidationError:
            bad = self._types(scope, values, path, out)
        for node in scope.lists:
            # msgspec accepts tuples and sets where lists are declared; answers come from
            # msgpack as lists, and expressions rely on it, so other containers are refused.
            v = values.get(node.name)
            if v is not None and not isinstance(v, list) and node.name not in bad:
                out.append(_p(f"{path}.{node.name}", "type", f"expected {_expected(node)}"))
                bad.add(node.name)
        frame = AnswerFrame(scope, values, outer, bad, path)
        for node in scope.checked:
            name = node.name
            v = values.get(name)
            if v is None or v == "" or v == []:
                # Unanswered: only a required question or a repeat with a minimum can be
                # wrong, and only when relevant. Skip the relevance work otherwise.
                if stopped_early or (node.req is False and not node.item.min_count):
                    continue
                if name in bad or not frame.relevant(node):
                    continue
                if node.type == "repeat":
                    self._count(node, 0, f"{path}.{name}", out)
                elif node.req is True or (callable(node.req) and truthy(node.req(frame))):
                    out.append(_p(f"{path}.{name}", "required", "required, but not answered"))
                continue
            if name in bad:
                continue
            p = f"{path}.{name}"
            if not frame.relevant(node):
                out.append(_p(p, "not_relevant", "answered, but the question does not apply"))
                continue
            if node.type == "repeat":
                assert node.scope is not None
                if not stopped_early or len(v) > _most(node):
                    self._count(node, len(v), p, out)
                # Entries beyond max_count are one problem (too_many), not more work.
                for i, inst in enumerate(v[: _most(node)]):
                    self._scope(node.scope, inst, frame, f"{p}[{i}]", out, stopped_early)
                continue
            if node.type == "select_multiple" and len(set(v)) != len(v):
                out.append(_p(p, "duplicate_choice", "a choice is selected twice"))
            for check, message in node.checks:
                if not check(v, frame.lookup):
                    out.append(
                        Problem(
                            path=p,
                            code="constraint",
                            message=f"constraint not met: {self._msg(message)}",
                            text=dict(message),
                        )
                    )
            if node.filter is not None and node.choices is not None:
                chosen = v if isinstance(v, list) else [v]
                for c in chosen:
                    env = Env(frame.lookup, props=node.choices.get(c, {}))
                    if not truthy(node.filter(env)):
                        out.append(_p(p, "choice_filtered", "a choice does not apply here"))
                        break

    def _count(self, node: FormNode, n: int, p: str, out: _Kept) -> None:
        lo, hi = node.item.min_count, _most(node)
        if lo is not None and n < lo:
            out.append(_p(p, "too_few", f"needs at least {lo} entr{'y' if lo == 1 else 'ies'}"))
        if hi is not None and n > hi:
            out.append(_p(p, "too_many", f"allows at most {hi} entr{'y' if hi == 1 else 'ies'}"))

    def _types(
        self, scope: FormScope, values: Mapping[str, Any], path: str, out: _Kept
    ) -> set[str]:
        """Slow path after msgspec refused the scope: find every type problem."""
        bad: set[str] = set()
        for key in values:
            if not isinstance(key, str):
                out.append(_p(path, "unknown_field", "answer names must be strings"))
                continue
            node = scope.by_name.get(key)
            if node is None:
                out.append(_unknown(scope, path, key))
            elif not node.answerable and node.type != "repeat":
                if values[key] is not None:
                    out.append(_p(f"{path}.{key}", "no_answer", f"a {node.type} takes no answer"))
        for node in scope.nodes:
            if node.name not in values or values[node.name] is None:
                continue
            t = _field_type(self.form, node)
            if t is None:
                continue
            v = values[node.name]
            if node.type == "repeat":
                # Check the list shape here; each instance is checked in its own scope.
                if not isinstance(v, list):
                    out.append(
                        _p(f"{path}.{node.name}", "type", f"expected {_TYPE_WORDS['repeat']}")
                    )
                    bad.add(node.name)
                elif not all(isinstance(x, Mapping) for x in v[: _most(node)]):
                    out.append(_p(f"{path}.{node.name}", "type", "each entry must be a mapping"))
                    bad.add(node.name)
                continue
            try:
                msgspec.convert(v, t)
            except msgspec.ValidationError:
                out.append(_p(f"{path}.{node.name}", "type", f"expected {_expected(node)}"))
                bad.add(node.name)
        return bad

    def _msg(self, message: Text) -> str:
        return message.get(self._lang) or next(iter(message.values()))


def _p(path: str, code: str, message: str) -> Problem:
    return Problem(path=path, code=code, message=message)


def _most(node: FormNode) -> int:
    """The most entries a repeat may hold, and so the most that are checked."""
    return node.item.max_count if node.item.max_count is not None else REPEAT_MAX


def _expected(node: FormNode) -> str:
    """What an answer to ``node`` must be, with the choice codes it accepts."""
    words = _TYPE_WORDS[node.type]
    if node.choices is None or node.type not in ("select_one", "select_multiple"):
        return words
    codes = list(node.choices)
    shown = ", ".join(codes[:_SHOWN_CHOICES])
    if len(codes) > _SHOWN_CHOICES:
        shown += f", … ({len(codes)} in all)"
    if node.type == "select_one":
        return f"one of the choice codes {shown}"
    return f"a list of choice codes from {shown}"


def _unknown(scope: FormScope, path: str, key: str) -> Problem:
    """An answer under a name the form does not have. A name that could be a question's
    is shown, with the closest names of the form; anything else is not repeated (it
    could be any text at all)."""
    if _NAME.fullmatch(key) is None:
        return _p(
            f"{path}.?",
            "unknown_field",
            f"an answer under a name that is not a question name ({len(key)} characters)",
        )
    names = [n.name for n in scope.checked]
    close = difflib.get_close_matches(key, names, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return _p(f"{path}.{key}", "unknown_field", f"no such question in this form{hint}")


class _Kept:
    """The problems found: the first ``keep`` of them, and how many there were."""

    __slots__ = ("keep", "kept", "count")

    def __init__(self, keep: int | None) -> None:
        self.keep = keep
        self.kept: list[Problem] = []
        self.count = 0

    def append(self, p: Problem) -> None:
        self.count += 1
        if self.keep is None or len(self.kept) < self.keep:
            self.kept.append(p)

    def problems(self) -> list[Problem]:
        more = self.count - len(self.kept)
        if more <= 0:
            return self.kept
        return [
            *self.kept,
            _p("$", "more_problems", f"{more} more problem{'s' if more != 1 else ''} not listed"),
        ]
