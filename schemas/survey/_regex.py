"""Regular expressions in forms: RE2, linear time (docs/spec/survey-language.md §5.4).

A form is input from outside and the server evaluates its patterns against answers of up
to 20,000 characters. Python's ``re`` backtracks: ``(a+)+$`` is exponential, and even
``\\d*\\d*\\d*\\d*x`` is polynomial enough to stall a worker for many seconds. Shape
heuristics cannot close that door, so patterns are compiled with RE2 (google-re2), whose
matching time is linear in the input for every pattern. RE2 has no backreferences and
no lookaround; patterns that use them do not compile and are refused.
"""

from __future__ import annotations

import re
from typing import Any

import re2

__all__ = ["MAX_PATTERN_LENGTH", "check_safe_pattern", "compile_pattern"]

MAX_PATTERN_LENGTH = 300

_PERLISM = re.compile(r"\\[1-9]|\(\?[=!(]|\(\?<[=!]|\(\?P=")
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # errors are returned to the caller, not printed


class PatternError(ValueError):
    """A pattern that is refused; the message says why."""


def compile_pattern(pattern: str) -> Any:
    """Compile ``pattern`` with RE2; raise :class:`PatternError` saying why not."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise PatternError(f"pattern longer than {MAX_PATTERN_LENGTH} characters")
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as e:
        raw = e.args[0] if e.args else ""
        msg = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        hint = "; RE2 has no backreferences or lookaround" if _PERLISM.search(pattern) else ""
        raise PatternError(f"pattern does not compile as RE2 ({msg}){hint}") from None


def check_safe_pattern(pattern: str) -> str | None:
    """Return why ``pattern`` is refused, or ``None`` if it is acceptable."""
    try:
        compile_pattern(pattern)
    except PatternError as e:
        return str(e)
    return None
