"""Strings from outside are matched whole (docs/spec/bundle-v1.md §3, survey-language.md §2).

Every pattern that checks a string another party chose (a form id, an item name, a
language code, a media type, an attachment name, a label) is built here, so that one
place decides what "the whole string" means:

- msgspec checks ``Meta(pattern=…)`` with ``re.search``, and ``$`` in Python matches
  before a final newline: ``^[a-z]+$`` accepts ``"abc\\n"``. :data:`END` is
  ``(?![\\s\\S])`` ("no character follows"), which means the same in Python's ``re`` and in
  the ECMA-262 regexes of the JSON Schema and OpenAPI documents generated from these
  types (``\\Z`` is not ECMA-262, and ``$`` would be wrong in both).
- A label is an administrator's name for a thing (a device, a token). It may be written
  in any script of the Basic Multilingual Plane, but carries no control or format
  character (Unicode Cc, Cf with the bidi overrides and isolates, Zl, Zp), no surrogate,
  no private-use character, no non-character, and no space at either end. The allowed
  set is written out as code-point ranges (:data:`LABEL_CHARS`), so the kit and the
  server agree whatever Unicode version their Python carries, and so the generated
  schemas hold the same rule: characters outside the BMP are refused in Python, and in
  ECMA-262 with or without the ``u`` flag (a surrogate pair is outside the set).
"""

from __future__ import annotations

import re
from typing import Annotated, Final

import msgspec

__all__ = [
    "END",
    "LABEL_CHARS",
    "Label",
    "LABEL_PATTERN",
    "exact",
    "valid_label",
]

END: Final = r"(?![\s\S])"
"""End of the string: valid in Python ``re`` and ECMA-262, never before a final newline."""


def exact(body: str) -> str:
    """A pattern that matches when ``body`` matches the whole string and nothing more."""
    return rf"^(?:{body}){END}"


# Code points refused in a label (Basic Multilingual Plane, Unicode 14 categories Cc, Cf,
# Zl, Zp, Cs, Co, and the non-characters U+FFFE/U+FFFF). The bidi overrides U+202A-202E
# and isolates U+2066-2069 are Cf. Everything above U+FFFF is refused as a whole.
_REFUSED: Final = (
    (0x0000, 0x001F),
    (0x007F, 0x009F),
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x2028, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xD800, 0xF8FF),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0xFFFE, 0xFFFF),
)
# Space separators (Zs): allowed inside a label, never at either end.
_SPACES: Final = (0x0020, 0x00A0, 0x1680, *range(0x2000, 0x200B), 0x202F, 0x205F, 0x3000)


def _complement(refused: tuple[tuple[int, int], ...], top: int = 0xFFFF) -> list[tuple[int, int]]:
    allowed: list[tuple[int, int]] = []
    start = 0
    for lo, hi in sorted(refused):
        if lo > start:
            allowed.append((start, lo - 1))
        start = max(start, hi + 1)
    if start <= top:
        allowed.append((start, top))
    return allowed


def _char_class(ranges: list[tuple[int, int]]) -> str:
    parts = []
    for lo, hi in ranges:
        parts.append(rf"\u{lo:04x}" if lo == hi else rf"\u{lo:04x}-\u{hi:04x}")
    return "[" + "".join(parts) + "]"


_ALLOWED: Final = _complement(_REFUSED)
LABEL_CHARS: Final = _char_class(_ALLOWED)
"""One character a label may hold (a regex character class, Python and ECMA-262)."""
_EDGE: Final = _char_class(_complement(_REFUSED + tuple((c, c) for c in _SPACES)))

LABEL_PATTERN: Final = exact(rf"{_EDGE}(?:{LABEL_CHARS}{{0,62}}{_EDGE})?")
"""1 to 64 label characters, the first and the last not a space."""

Label = Annotated[str, msgspec.Meta(pattern=LABEL_PATTERN, min_length=1, max_length=64)]
"""An administrator's name for a device or a token (never a person's name)."""

_LABEL_RE: Final = re.compile(LABEL_PATTERN)


def valid_label(value: object) -> bool:
    """Whether ``value`` is a :data:`Label`: the same rule msgspec applies when decoding."""
    return isinstance(value, str) and _LABEL_RE.search(value) is not None
