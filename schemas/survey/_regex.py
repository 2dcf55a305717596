"""Safety checks for regular expressions in forms (docs/spec/survey-language.md §5.3).

A form is input from outside. Python's ``re`` backtracks, so a pattern such as
``(a+)+$`` can take exponential time on a crafted answer. Patterns are therefore limited
in length and shape: no backreferences, no lookaround, no repeat of a sub-pattern that
itself repeats or alternates (the catastrophic-backtracking shapes ``(a+)+`` and
``(a|aa)+``). Answers are also bounded in length, so what remains is polynomial and small.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

__all__ = ["MAX_PATTERN_LENGTH", "check_safe_pattern"]

MAX_PATTERN_LENGTH = 300

# Python 3.11+ keeps the pattern parser in re._parser (sre_parse is deprecated). It is
# private but stable across 3.11-3.13; the tests pin its behaviour on our patterns.
_p: Any = importlib.import_module("re._parser")
_c: Any = importlib.import_module("re._constants")


def _walk(items: Any) -> str | None:
    for op, av in items:
        name = str(op)
        if name in ("GROUPREF", "GROUPREF_EXISTS"):
            return "backreferences are not allowed in patterns"
        if name in ("ASSERT", "ASSERT_NOT"):
            return "lookahead and lookbehind are not allowed in patterns"
        if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            lo, hi, sub = av
            repeats = hi is _c.MAXREPEAT or hi > 1
            if repeats and _has_repeat(sub):
                return "nested repetition (such as (a+)+) is not allowed in patterns"
            if repeats and _has_branch(sub):
                return "alternation under repetition (such as (a|b)+) is not allowed; use [ab]+"
            err = _walk(sub)
            if err:
                return err
        elif name == "SUBPATTERN":
            err = _walk(av[-1])
            if err:
                return err
        elif name == "BRANCH":
            for alt in av[1]:
                err = _walk(alt)
                if err:
                    return err
        elif name == "ATOMIC_GROUP":
            err = _walk(av)
            if err:
                return err
    return None


def _has_branch(items: Any) -> bool:
    for op, av in items:
        name = str(op)
        if name == "BRANCH":
            return True
        if name == "SUBPATTERN" and _has_branch(av[-1]):
            return True
        if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT") and _has_branch(av[2]):
            return True
    return False


def _has_repeat(items: Any) -> bool:
    for op, av in items:
        name = str(op)
        if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            lo, hi, _sub = av
            if hi is _c.MAXREPEAT or hi > 1:
                return True
            if _has_repeat(_sub):
                return True
        elif name == "SUBPATTERN" and _has_repeat(av[-1]):
            return True
        elif name == "BRANCH" and any(_has_repeat(alt) for alt in av[1]):
            return True
    return False


def check_safe_pattern(pattern: str) -> str | None:
    """Return why ``pattern`` is refused, or ``None`` if it is acceptable."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        return f"pattern longer than {MAX_PATTERN_LENGTH} characters"
    try:
        re.compile(pattern)
    except re.error as e:
        return f"pattern does not compile ({e.msg})"
    parsed = _p.parse(pattern)
    return _walk(parsed)
