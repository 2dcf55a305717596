"""Checking a structured form (docs/spec/survey-language.md §10).

:func:`check_form` checks names, languages, choice lists, item-type rules (§4.1),
identity roles (§4.3), constraint kinds and bounds (§5.2), every expression (§6) and the
relevance dependency graph (§7), and returns *every* problem found, each with its path.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping

from .. import text as _text
from ..errors import Problem
from ._expr import ExprSyntaxError, Node, check_node, parse
from ._model import (
    ANSWER_TYPES,
    CONTAINER_TYPES,
    IDENTITY_ROLES,
    Constraint,
    Form,
    Item,
)
from ._regex import check_safe_pattern

__all__ = ["MAX_ITEMS", "MAX_REPEAT", "MAX_TEXT", "check_form"]

MAX_ITEMS = 5000
MAX_TEXT = 4000
MAX_REPEAT = 1000

# Matched whole (fullmatch), from the one definition in schemas/text.py.
_FORM_ID = re.compile(_text.FORM_ID)
_NAME = re.compile(_text.ITEM_NAME)
_CHOICE_VALUE = re.compile(_text.CHOICE_VALUE)
_PROPERTY = re.compile(_text.PROPERTY)
_LANG = re.compile(_text.LANG)
_IDENTITY_TYPES = {
    "name": {"text"},
    "birth_year": {"year", "integer"},
    "sex": {"select_one"},
    "province_of_origin": {"select_one"},
    "departure_year": {"year", "integer"},
}


class _Problems:
    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, path: str, code: str, message: str) -> None:
        self.items.append(Problem(path=path, code=code, message=message))


class _Checker:
    def __init__(self, form: Form, out: _Problems) -> None:
        self.form = form
        self.out = out
        self.langs = set(form.languages)
        # name -> (item, path, ancestors)
        self.by_name: dict[str, tuple[Item, str, tuple[Item, ...]]] = {}
        self.deps: dict[str, set[str]] = {}

    def text(self, t: Mapping[str, str] | None, path: str, *, required: bool = True) -> None:
        if t is None:
            if required:
                self.out.add(path, "missing_text", "text is missing")
            return
        for lang in sorted(self.langs - set(t)):
            self.out.add(path, "missing_translation", f"no '{lang}' text")
        for lang in sorted(set(t) - self.langs):
            self.out.add(path, "unknown_language", f"'{lang}' is not a language of this form")
        for lang, s in t.items():
            if not s.strip():
                self.out.add(f"{path}.{lang}", "empty_text", "text is empty")
            elif len(s) > MAX_TEXT:
                self.out.add(f"{path}.{lang}", "too_long", f"text over {MAX_TEXT} characters")
            elif why := _text.text_problem(s):
                self.out.add(f"{path}.{lang}", "control_character", why)

    def run(self) -> None:
        f = self.form
        if not _FORM_ID.fullmatch(f.id):
            self.out.add("$.id", "bad_id", "form id must be 1-63 of a-z, 0-9 and '-'")
        if not 1 <= f.version < 2**31:
            self.out.add("$.version", "bad_version", "version must be a positive integer")
        if not f.languages:
            self.out.add("$.languages", "no_languages", "a form needs at least one language")
        if len(set(f.languages)) != len(f.languages):
            self.out.add("$.languages", "duplicate_language", "a language is listed twice")
        for i, lang in enumerate(f.languages):
            if not _LANG.fullmatch(lang):
                self.out.add(f"$.languages[{i}]", "bad_language", "use a 2-3 letter code")
        if f.default_language not in f.languages:
            self.out.add(
                "$.default_language", "bad_language", "default language is not in 'languages'"
            )
        self.text(f.title, "$.title")
        self.text(f.description, "$.description", required=False)
        self.check_choices()
        if not f.items:
            self.out.add("$.items", "empty_form", "a form needs at least one item")
        self.collect(f.items, "$.items", ())
        if len(self.by_name) > MAX_ITEMS:
            self.out.add("$.items", "too_many_items", f"more than {MAX_ITEMS} items")
        for it, path, parents in self.by_name.values():
            self.check_item(it, path, parents)
        self.check_identity()
        self.check_cycles()

    def check_choices(self) -> None:
        for lname, choices in self.form.choices.items():
            path = f"$.choices.{lname}"
            if not _NAME.fullmatch(lname):
                self.out.add(path, "bad_name", "choice list names are like question names")
            if not choices:
                self.out.add(path, "empty_choices", "a choice list needs at least one choice")
            seen: set[str] = set()
            for i, c in enumerate(choices):
                cp = f"{path}[{i}]"
                if not _CHOICE_VALUE.fullmatch(c.value):
                    self.out.add(
                        f"{cp}.value", "bad_value", "choice values are 1-64 of A-Z a-z 0-9 _ . -"
                    )
                if c.value in seen:
                    self.out.add(f"{cp}.value", "duplicate_choice", "value repeats in this list")
                seen.add(c.value)
                self.text(c.label, f"{cp}.label")
                for key, value in c.properties.items():
                    pp = f"{cp}.properties.{key}"
                    if not _PROPERTY.fullmatch(key):
                        self.out.add(
                            pp,
                            "bad_property",
                            "property names are 1-64 of A-Z a-z 0-9 _ -, not a digit or - first",
                        )
                    elif len(value) > MAX_TEXT:
                        self.out.add(pp, "too_long", f"text over {MAX_TEXT} characters")
                    elif why := _text.text_problem(value):
                        self.out.add(pp, "control_character", why)

    def collect(self, items: tuple[Item, ...], path: str, parents: tuple[Item, ...]) -> None:
        for i, it in enumerate(items):
            p = f"{path}[{i}]"
            if it.name in self.by_name:
                first = self.by_name[it.name][1]
                self.out.add(
                    f"{p}.name", "duplicate_name", f"name '{it.name}' is already used at {first}"
                )
            else:
                self.by_name[it.name] = (it, p, parents)
            self.collect(it.items, f"{p}.items", (*parents, it))

    def check_item(self, it: Item, p: str, parents: tuple[Item, ...]) -> None:
        t = it.type
        if not _NAME.fullmatch(it.name):
            self.out.add(
                f"{p}.name", "bad_name", "names are 1-64 of A-Z a-z 0-9 _, not a digit first"
            )
        self.text(it.label, f"{p}.label")
        self.text(it.hint, f"{p}.hint", required=False)
        if t in CONTAINER_TYPES:
            if not it.items:
                self.out.add(f"{p}.items", "empty_group", f"a {t} needs at least one item")
        elif it.items:
            self.out.add(f"{p}.items", "not_a_group", f"a {t} question cannot hold items")
        if t in ("select_one", "select_multiple"):
            if it.choices is None:
                self.out.add(f"{p}.choices", "missing_choices", f"a {t} needs a choice list")
            elif it.choices not in self.form.choices:
                self.out.add(
                    f"{p}.choices", "unknown_choices", f"choice list '{it.choices}' does not exist"
                )
        else:
            if it.choices is not None:
                self.out.add(f"{p}.choices", "not_select", "only select questions take choices")
            if it.choice_filter is not None:
                self.out.add(f"{p}.choice_filter", "not_select", "only select questions filter")
        if t == "repeat":
            lo, hi = it.min_count, it.max_count
            if lo is not None and not 0 <= lo <= MAX_REPEAT:
                self.out.add(f"{p}.min_count", "bad_count", f"min_count must be 0-{MAX_REPEAT}")
            if hi is not None and not 1 <= hi <= MAX_REPEAT:
                self.out.add(f"{p}.max_count", "bad_count", f"max_count must be 1-{MAX_REPEAT}")
            if lo is not None and hi is not None and lo > hi:
                self.out.add(f"{p}.min_count", "bad_count", "min_count is above max_count")
        elif it.min_count is not None or it.max_count is not None:
            self.out.add(p, "not_repeat", "min_count and max_count belong to repeat groups")
        if t not in ANSWER_TYPES:
            if it.required is not False:
                self.out.add(f"{p}.required", "not_answerable", f"a {t} has no answer to require")
            if it.constraints:
                self.out.add(f"{p}.constraints", "not_answerable", f"a {t} has no answer")
            if it.sensitive or it.identity:
                self.out.add(p, "not_answerable", f"a {t} holds no data to mark sensitive")
        for i, c in enumerate(it.constraints):
            self.check_constraint(it, c, f"{p}.constraints[{i}]", parents)
        # Only relevance decides whether an answer counts (is read as non-null), so only
        # relevance dependencies can form a cycle; required-if reads but is never read.
        deps: set[str] = set()
        if it.relevant is not None:
            deps |= self.expr(it, it.relevant, f"{p}.relevant", parents, where="relevant")
        if isinstance(it.required, str):
            self.expr(it, it.required, f"{p}.required", parents, where="required")
        if it.choice_filter is not None:
            self.expr(it, it.choice_filter, f"{p}.choice_filter", parents, where="filter")
        self.deps[it.name] = deps

    def check_constraint(self, it: Item, c: Constraint, p: str, parents: tuple[Item, ...]) -> None:
        self.text(c.message, f"{p}.message")
        kinds = [
            k
            for k, present in (
                ("range", c.min is not None or c.max is not None),
                ("length", c.min_length is not None or c.max_length is not None),
                ("pattern", c.pattern is not None),
                ("expr", c.expr is not None),
            )
            if present
        ]
        if len(kinds) != 1:
            self.out.add(
                p, "constraint_kind", "a constraint is exactly one of: range, length, pattern, expr"
            )
            return
        kind, t = kinds[0], it.type
        if kind == "range":
            if isinstance(c.min, bool) or isinstance(c.max, bool):
                self.out.add(p, "bad_bound", "a bound cannot be true or false")
                return
            if t in ("integer", "decimal", "year"):
                for k in ("min", "max"):
                    v = getattr(c, k)
                    if v is not None and (
                        isinstance(v, str) or (t != "decimal" and isinstance(v, float))
                    ):
                        self.out.add(f"{p}.{k}", "bad_bound", f"bound must be a number for {t}")
            elif t == "date":
                for k in ("min", "max"):
                    v = getattr(c, k)
                    if v is not None and not _is_iso_date(v):
                        self.out.add(f"{p}.{k}", "bad_bound", "bound must be a date YYYY-MM-DD")
            else:
                self.out.add(p, "constraint_type", f"range constraints do not apply to {t}")
            both_numbers = isinstance(c.min, int | float) and isinstance(c.max, int | float)
            both_dates = _is_iso_date(c.min) and _is_iso_date(c.max)
            if (both_numbers or both_dates) and c.min > c.max:  # type: ignore[operator]
                self.out.add(p, "bad_bound", "min is above max")
        elif kind == "length":
            if t not in ("text", "select_multiple"):
                self.out.add(p, "constraint_type", f"length constraints do not apply to {t}")
            for k in ("min_length", "max_length"):
                v = getattr(c, k)
                if v is not None and v < 0:
                    self.out.add(f"{p}.{k}", "bad_bound", "lengths cannot be negative")
            if c.min_length is not None and c.max_length is not None:
                if c.min_length > c.max_length:
                    self.out.add(p, "bad_bound", "min_length is above max_length")
        elif kind == "pattern":
            if t != "text":
                self.out.add(p, "constraint_type", f"pattern constraints do not apply to {t}")
            problem = check_safe_pattern(c.pattern or "")
            if problem:
                self.out.add(f"{p}.pattern", "bad_pattern", problem)
        else:
            if t not in ANSWER_TYPES:
                self.out.add(p, "constraint_type", f"constraints do not apply to {t}")
            self.expr(it, c.expr or "", f"{p}.expr", parents, where="constraint")

    def expr(
        self, it: Item, src: str, path: str, parents: tuple[Item, ...], *, where: str
    ) -> set[str]:
        try:
            node = parse(src)
        except ExprSyntaxError as e:
            self.out.add(path, "expr_syntax", str(e))
            return set()
        for pos, msg in check_node(node):
            self.out.add(path, "expr_function", f"{msg} (character {pos + 1})")
        self.check_refs(it, node, path, parents, where)
        return node.refs()

    def check_refs(
        self, it: Item, node: Node, path: str, parents: tuple[Item, ...], where: str
    ) -> None:
        own_repeats = {p.name for p in parents if p.type == "repeat"}
        for n in node.walk():
            if n.op == "dot" and where != "constraint":
                self.out.add(
                    path, "expr_dot", "'.' (this answer) is only meaningful in constraints"
                )
            if n.op == "prop" and where != "filter":
                self.out.add(
                    path, "expr_name", f"bare name '{n.value}': write ${{{n.value}}} for a question"
                )
            if n.op != "ref":
                continue
            target = self.by_name.get(n.value)
            if target is None:
                self.out.add(
                    path, "unknown_reference", f"refers to '{n.value}', which does not exist"
                )
                continue
            tgt, _, tparents = target
            if tgt.type not in ANSWER_TYPES and tgt.type != "repeat":
                self.out.add(
                    path, "bad_reference", f"refers to '{n.value}', a {tgt.type} with no answer"
                )
            if where == "relevant" and n.value == it.name:
                self.out.add(path, "cycle", f"'{it.name}' cannot depend on itself")
            outside = [p.name for p in tparents if p.type == "repeat" and p.name not in own_repeats]
            if outside:
                self.out.add(
                    path,
                    "ambiguous_reference",
                    f"refers to '{n.value}' inside repeat '{outside[-1]}' from outside it; "
                    f"use count(${{{outside[-1]}}}) or move the question",
                )
        self.check_literals(it, node, path, where)

    def _choice_values(self, it: Item, n: Node) -> tuple[str, set[str]] | None:
        """The choice list behind ``n`` if it reads a select answer (``${q}`` or ``.``)."""
        target: Item | None = it if n.op == "dot" else None
        if n.op == "ref" and n.value in self.by_name:
            target = self.by_name[n.value][0]
        if target is None or target.choices not in self.form.choices:
            return None
        name = target.choices or ""
        return name, {c.value for c in self.form.choices[name]}

    def check_literals(self, it: Item, node: Node, path: str, where: str) -> None:
        """Catch misspelt choice values and choice properties: they load, but silently
        make a question unreachable or every choice unavailable."""
        for n in node.walk():
            pairs: list[tuple[Node, Node]] = []
            if n.op in ("=", "!="):
                a, b = n.args
                pairs = [(a, b), (b, a)]
            elif n.op == "call" and n.value == "selected" and len(n.args) == 2:
                pairs = [(n.args[0], n.args[1])]
            for sel, lit in pairs:
                if lit.op != "lit" or not isinstance(lit.value, str) or lit.value == "":
                    continue
                found = self._choice_values(it, sel)
                if found and lit.value not in found[1]:
                    self.out.add(
                        path,
                        "unknown_choice_value",
                        f"'{lit.value}' is not a value of choice list '{found[0]}' "
                        f"(character {lit.pos + 1})",
                    )
            if n.op == "prop" and where == "filter" and it.choices in self.form.choices:
                props = {k for c in self.form.choices[it.choices or ""] for k in c.properties}
                if n.value not in props:
                    self.out.add(
                        path,
                        "unknown_property",
                        f"no choice of list '{it.choices}' has a property '{n.value}'",
                    )

    def check_identity(self) -> None:
        seen: dict[str, str] = {}
        for name, (it, p, parents) in self.by_name.items():
            role = it.identity
            if role is None:
                continue
            if role in seen:
                self.out.add(
                    f"{p}.identity",
                    "duplicate_identity",
                    f"role '{role}' already on '{seen[role]}'",
                )
            seen[role] = name
            if not it.sensitive:
                self.out.add(
                    f"{p}.sensitive", "identity_not_sensitive", "identity fields must be sensitive"
                )
            if it.type not in _IDENTITY_TYPES.get(role, set()):
                want = " or ".join(sorted(_IDENTITY_TYPES[role]))
                self.out.add(f"{p}.identity", "identity_type", f"role '{role}' needs a {want}")
            if any(q.type == "repeat" for q in parents):
                self.out.add(f"{p}.identity", "identity_in_repeat", "identity fields cannot repeat")
        assert set(_IDENTITY_TYPES) == set(IDENTITY_ROLES)

    def check_cycles(self) -> None:
        # A question's relevance reads other answers; an answer counts only where its
        # question is relevant. So "x depends on y" includes x's enclosing group.
        graph: dict[str, set[str]] = {}
        for name, (_it, _p, parents) in self.by_name.items():
            edges = set(self.deps.get(name, ()))
            if parents:
                edges.add(parents[-1].name)
            graph[name] = {d for d in edges if d in self.by_name and d != name}
        state: dict[str, int] = {}
        reported: set[frozenset[str]] = set()
        for start in graph:
            if state.get(start):
                continue
            stack: list[tuple[str, list[str]]] = [(start, sorted(graph[start]))]
            trail = [start]
            state[start] = 1
            while stack:
                node, todo = stack[-1]
                if not todo:
                    stack.pop()
                    trail.pop()
                    state[node] = 2
                    continue
                nxt = todo.pop()
                if state.get(nxt) == 1:
                    cycle = trail[trail.index(nxt) :]
                    key = frozenset(cycle)
                    if key not in reported:
                        reported.add(key)
                        path = self.by_name[nxt][1]
                        loop = " → ".join([*cycle, nxt])
                        self.out.add(
                            f"{path}.relevant", "cycle", f"relevance forms a cycle: {loop}"
                        )
                elif not state.get(nxt):
                    state[nxt] = 1
                    trail.append(nxt)
                    stack.append((nxt, sorted(graph[nxt])))


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # \d would admit other scripts' digits


def _is_iso_date(v: object) -> bool:
    """``YYYY-MM-DD`` and a real day (not a week date such as 2020-W01-1)."""
    if not isinstance(v, str) or not _ISO_DATE.fullmatch(v):
        return False
    try:
        datetime.date.fromisoformat(v)
    except ValueError:
        return False
    return True


def check_form(form: Form) -> list[Problem]:
    """Every semantic problem of an already-structured form (empty list: usable)."""
    out = _Problems()
    _Checker(form, out).run()
    return out.items
