"""Synthetic responses (docs/spec/survey-language.md §8) for demos, tests and benchmarks.

:func:`synthesize` walks a form in order, answering every relevant question with a
plausible random value that satisfies its type, choice list, filter and constraints, and
checks the result with the form's validator. Names are generated from common Korean
surname and given-name syllables; they describe no real person.
"""

from __future__ import annotations

import datetime
import importlib
import random
import re
from typing import Any

from ._expr import Env, truthy
from ._model import Form
from ._validate import AnswerFrame, FormNode, FormScope, Validator

__all__ = ["SynthesisError", "synthetic_name", "synthesize"]

# Approximate shares of the commonest surnames (Kim, Lee/Ri, Park/Pak, Choi/Choe, ...).
_SURNAMES = [
    ("김", 21.5), ("리", 7.0), ("이", 7.7), ("박", 8.4), ("최", 4.7), ("정", 4.3),
    ("강", 2.3), ("조", 2.1), ("윤", 2.1), ("장", 2.0), ("림", 0.9), ("한", 1.5),
    ("오", 0.8), ("서", 0.8), ("신", 0.8), ("권", 0.7), ("황", 0.7), ("안", 0.7),
    ("송", 0.7), ("전", 0.6), ("홍", 0.5), ("류", 0.6), ("고", 0.5), ("문", 0.5),
]  # fmt: skip
_GIVEN = list("영철명수남순옥희정성혁광일금은미경진철호현숙향련주국용복화선")


def _sample_pattern(pattern: str, rng: random.Random) -> str | None:
    """A random string matching a simple pattern (classes, literals, bounded repeats)."""
    c: Any = importlib.import_module("re._constants")
    p: Any = importlib.import_module("re._parser")

    def gen(items: Any) -> str:
        out = []
        for op, av in items:
            name = str(op)
            if name == "LITERAL":
                out.append(chr(av))
            elif name == "ANY":
                out.append(rng.choice("abcxyz"))
            elif name == "IN":
                pool: list[str] = []
                for cop, cav in av:
                    if str(cop) == "LITERAL":
                        pool.append(chr(cav))
                    elif str(cop) == "RANGE":
                        pool.extend(chr(x) for x in range(cav[0], min(cav[1], cav[0] + 60) + 1))
                    elif str(cop) == "CATEGORY":
                        pool.extend("0123456789" if "DIGIT" in str(cav) else "abcXYZ")
                if not pool:
                    raise ValueError
                out.append(rng.choice(pool))
            elif name in ("MAX_REPEAT", "MIN_REPEAT"):
                lo, hi, sub = av
                hi = lo + 3 if hi is c.MAXREPEAT else hi
                out.extend(gen(sub) for _ in range(rng.randint(lo, max(lo, hi))))
            elif name == "SUBPATTERN":
                out.append(gen(av[-1]))
            elif name == "BRANCH":
                out.append(gen(rng.choice(av[1])))
            elif name == "AT":
                continue
            else:
                raise ValueError
        return "".join(out)

    try:
        return gen(p.parse(pattern))
    except (ValueError, TypeError, re.error):
        return None


class SynthesisError(Exception):
    """The generator could not satisfy the form (a form with an unsatisfiable rule)."""


def synthetic_name(rng: random.Random) -> str:
    """A generated Korean name: one-syllable surname, two-syllable given name."""
    surname = rng.choices([s for s, _ in _SURNAMES], weights=[w for _, w in _SURNAMES])[0]
    return surname + rng.choice(_GIVEN) + rng.choice(_GIVEN)


class _Synth:
    def __init__(
        self, form: Form, rng: random.Random, answer_optional: float, fixed: dict[str, Any]
    ) -> None:
        self.form = form
        self.fixed = fixed
        self.rng = rng
        self.p = answer_optional
        self.validator = Validator(form)

    def scope(self, scope: FormScope, outer: AnswerFrame | None) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for node in scope.nodes:
            if not node.answerable and node.type != "repeat":
                continue
            frame = AnswerFrame(scope, values, outer, set(), "$")
            if not frame.relevant(node):
                continue
            if outer is None and node.name in self.fixed:
                values[node.name] = self.fixed[node.name]
                continue
            if node.type == "repeat":
                assert node.scope is not None
                lo = node.item.min_count or 0
                hi = min(node.item.max_count or 3, max(lo, 3))
                n = self.rng.randint(lo, hi) if hi >= lo else lo
                entries = [self.scope(node.scope, frame) for _ in range(n)]
                if entries or lo == 0:
                    values[node.name] = entries
                continue
            required = node.req is True or (
                callable(node.req) and truthy(node.req(Env(frame.lookup)))
            )
            if not required and self.rng.random() > self.p:
                continue
            for _ in range(60):
                v = self.value(node, frame)
                if v is not None and all(check(v, frame.lookup) for check, _ in node.checks):
                    values[node.name] = v
                    break
            else:
                if required:
                    raise SynthesisError(f"cannot satisfy the rules of '{node.name}'")
        return values

    def bounds(self, node: FormNode, lo: Any, hi: Any) -> tuple[Any, Any]:
        for c in node.item.constraints:
            if c.kind == "range":
                lo = c.min if c.min is not None else lo
                hi = c.max if c.max is not None else hi
        return lo, hi

    def value(self, node: FormNode, frame: AnswerFrame) -> Any:
        r, t = self.rng, node.type
        if t == "text":
            if node.item.identity == "name":
                return synthetic_name(r)
            for c in node.item.constraints:
                if c.kind == "pattern" and c.pattern:
                    return _sample_pattern(c.pattern, r)
            lo, hi = 1, 60
            for c in node.item.constraints:
                if c.kind == "length":
                    lo = c.min_length if c.min_length is not None else lo
                    hi = min(c.max_length if c.max_length is not None else hi, hi)
            text = f"합성 응답 synthetic answer {r.randrange(10_000)}"
            return text[: max(lo, min(hi, len(text)))]
        if t == "integer":
            lo, hi = self.bounds(node, 0, 20)
            return r.randint(int(lo), int(hi))
        if t == "decimal":
            lo, hi = self.bounds(node, 0.0, 100.0)
            return round(r.uniform(float(lo), float(hi)), 1)
        if t == "year":
            lo, hi = self.bounds(node, 1950, 2024)
            return r.randint(int(lo), int(hi))
        if t == "boolean":
            return r.random() < 0.5
        if t == "date":
            lo, hi = self.bounds(node, "2019-01-01", "2025-12-31")
            a, b = datetime.date.fromisoformat(lo), datetime.date.fromisoformat(hi)
            return (a + datetime.timedelta(days=r.randint(0, (b - a).days))).isoformat()
        assert node.choices is not None
        allowed = [
            v
            for v, props in node.choices.items()
            if node.filter is None or truthy(node.filter(Env(frame.lookup, props=props)))
        ]
        if not allowed:
            return None
        if t == "select_one":
            return r.choice(allowed)
        k = r.randint(1, min(3, len(allowed)))
        return r.sample(allowed, k)


def synthesize(
    form: Form,
    rng: random.Random,
    *,
    answer_optional: float = 0.8,
    fixed: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A valid, random response to ``form``.

    Optional questions are answered with probability ``answer_optional``; top-level
    answers in ``fixed`` are used as given (e.g. ``{"consent": "yes"}``). Raises
    :class:`SynthesisError` if the form's rules cannot be met.
    """
    s = _Synth(form, rng, answer_optional, dict(fixed or {}))
    answers = s.scope(s.validator._top, None)
    problems = s.validator.validate(answers)
    if problems:
        raise SynthesisError(f"generated response breaks the form: {problems[0]}")
    return answers
