"""Strings from outside are matched whole (bundle-v1.md §6.1, §7; survey-language.md §2, §3).

Every rule that checks a string another party chose (a form id, an item name, a choice
value, a language code, a media type, an attachment name, a label, a form's own texts)
is written here once, and used by the msgspec types, the form checker and the XLSForm
reader alike:

- msgspec checks ``Meta(pattern=…)`` with ``re.search``, and ``$`` in Python matches
  before a final newline: ``^[a-z]+$`` accepts ``"abc\\n"``. :func:`exact` anchors a
  pattern with :data:`END`, ``(?![\\s\\S])`` ("no character follows"), which means the
  same in Python's ``re`` and in the ECMA-262 regexes of the JSON Schema and OpenAPI
  documents generated from these types (``\\Z`` is not ECMA-262).
- A *label* is an administrator's name for a thing (a device, a token): 1-64 characters
  of the Basic Multilingual Plane, none of them a control or format character (Unicode
  Cc, Cf with the bidi embeddings, overrides and isolates, Zl, Zp), a surrogate, a
  private-use character or a non-character, and no space at either end. The allowed set
  is written out as code-point ranges, so the kit and the server agree whatever Unicode
  version their Python carries, and the generated schemas hold the same rule:
  characters above U+FFFF are refused in Python, and in ECMA-262 with or without the
  ``u`` flag (a surrogate pair is outside the set).
- A form's *texts* (titles, labels, hints, messages) may hold a newline or a tab, but no
  other control character, no bidi embedding, override or isolate (they reorder what an
  interviewer reads), no line or paragraph separator and no non-character
  (:func:`text_problem`).
- :func:`shown` makes any string safe to print on a terminal or in a log line: control
  and format characters become visible escapes.
"""

from __future__ import annotations

import re
from typing import Annotated, Final

import msgspec

__all__ = [
    "ATTACHMENT_NAME",
    "AttachmentName",
    "CHOICE_VALUE",
    "END",
    "FORM_ID",
    "FormId",
    "ITEM_NAME",
    "LABEL_PATTERN",
    "LANG",
    "Label",
    "Lang",
    "MEDIA_TYPE",
    "MediaType",
    "PROPERTY",
    "SHA256_HEX",
    "exact",
    "shown",
    "text_problem",
    "valid",
    "valid_label",
]

END: Final = r"(?![\s\S])"
"""End of the string: valid in Python ``re`` and ECMA-262, never before a final newline."""


def exact(body: str) -> str:
    """A pattern that matches when ``body`` matches the whole string and nothing more."""
    return rf"^(?:{body}){END}"


# The bodies (unanchored, ASCII only: no ``.``, ``\s``, ``\d`` or ``\w``, which admit
# more than they seem to in Python's ``re``).
FORM_ID: Final = r"[a-z0-9][a-z0-9-]{0,62}"
"""A form id: 1-63 of ``a-z 0-9 -``, not ``-`` first (survey-language.md §2)."""
ITEM_NAME: Final = r"[A-Za-z_][A-Za-z0-9_]{0,63}"
"""An item or choice-list name: 1-64 of ``A-Z a-z 0-9 _``, not a digit first (§4)."""
CHOICE_VALUE: Final = r"[A-Za-z0-9_.\-]{1,64}"
"""A choice value: 1-64 of ``A-Z a-z 0-9 _ . -`` (§5.1)."""
PROPERTY: Final = r"[A-Za-z_][A-Za-z0-9_\-]{0,63}"
"""A choice property name, as a choice filter can name it (§5.3)."""
LANG: Final = r"[a-z]{2,3}"
"""A language code: 2-3 lower-case letters (§2)."""
ATTACHMENT_NAME: Final = r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}"
"""An attachment name: 1-100 of ``A-Z a-z 0-9 . _ -``, a letter or digit first."""
MEDIA_TYPE: Final = r"[a-z]{1,19}/[a-z0-9][a-z0-9.+-]{0,99}"
"""A media type, lower case: ``type/subtype``, no parameters."""
SHA256_HEX: Final = r"[0-9a-f]{64}"
"""A SHA-256 digest in lower-case hex."""

FormId = Annotated[str, msgspec.Meta(pattern=exact(FORM_ID))]
Lang = Annotated[str, msgspec.Meta(pattern=exact(LANG))]
AttachmentName = Annotated[str, msgspec.Meta(pattern=exact(ATTACHMENT_NAME))]
MediaType = Annotated[str, msgspec.Meta(pattern=exact(MEDIA_TYPE))]

_COMPILED: dict[str, re.Pattern[str]] = {}


def valid(body: str, value: object) -> bool:
    """Whether ``value`` is a string that ``body`` (one of the bodies above) matches whole."""
    rx = _COMPILED.get(body)
    if rx is None:
        rx = _COMPILED.setdefault(body, re.compile(exact(body)))
    return isinstance(value, str) and rx.search(value) is not None


# ------------------------------------------------------------------------------ labels

# Code points refused in a label (Basic Multilingual Plane, Unicode 14 categories Cc, Cf,
# Zl, Zp, Cs, Co, and the non-characters U+FFFE/U+FFFF). The bidi embeddings and
# overrides U+202A-202E and isolates U+2066-2069 are Cf. Everything above U+FFFF is
# refused as a whole.
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


def _complement(refused: tuple[tuple[int, int], ...]) -> list[tuple[int, int]]:
    allowed: list[tuple[int, int]] = []
    start = 0
    for lo, hi in sorted(refused):
        if lo > start:
            allowed.append((start, lo - 1))
        start = max(start, hi + 1)
    if start <= 0xFFFF:
        allowed.append((start, 0xFFFF))
    return allowed


def _char_class(ranges: list[tuple[int, int]]) -> str:
    parts = [rf"\u{lo:04x}" if lo == hi else rf"\u{lo:04x}-\u{hi:04x}" for lo, hi in ranges]
    return "[" + "".join(parts) + "]"


_INNER: Final = _char_class(_complement(_REFUSED))
_EDGE: Final = _char_class(_complement(_REFUSED + tuple((c, c) for c in _SPACES)))

LABEL_PATTERN: Final = exact(rf"{_EDGE}(?:{_INNER}{{0,62}}{_EDGE})?")
"""1 to 64 label characters, the first and the last not a space."""

Label = Annotated[str, msgspec.Meta(pattern=LABEL_PATTERN, min_length=1, max_length=64)]
"""An administrator's name for a device or a token (never a person's name)."""

_LABEL_RE: Final = re.compile(LABEL_PATTERN)


def valid_label(value: object) -> bool:
    """Whether ``value`` is a :data:`Label`: the same rule msgspec applies when decoding."""
    return isinstance(value, str) and _LABEL_RE.search(value) is not None


# ------------------------------------------------------------------------- form texts

_TEXT_REFUSED: Final = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]"
)


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be a form text (a label, hint, title or message), or None.

    Newlines and tabs are allowed; the reason names the first refused character by its
    code point, never by the text around it.
    """
    m = _TEXT_REFUSED.search(value)
    if m is None:
        return None
    return (
        f"text holds U+{ord(m[0]):04X}, a control or bidi formatting character, at "
        f"character {m.start() + 1}: only newlines and tabs may shape a text; remove it"
    )


# ------------------------------------------------------------------------------ display

_UNSAFE: Final = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f"
    "\ud800-\udfff\ufeff\ufff9-\ufffb\ufffe\uffff\U000e0000-\U000e007f]"
)


def _escape(m: re.Match[str]) -> str:
    c = ord(m[0])
    if c < 0x100:
        return f"\\x{c:02x}"
    return f"\\u{c:04x}" if c < 0x10000 else f"\\U{c:08x}"


def shown(value: str, limit: int | None = None) -> str:
    """``value`` made safe to print: control and format characters as ``\\xNN``,
    ``\\uNNNN`` or ``\\UNNNNNNNN`` escapes; cut to ``limit`` characters if given (an
    ellipsis marks the cut)."""
    if limit is not None and len(value) > limit:
        value = value[: limit - 1] + "…"
    return _UNSAFE.sub(_escape, value)
