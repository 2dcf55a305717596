"""From raw text to tokens of one script (docs/spec/identity-normalisation.md §3, §4).

Unicode normalisation (NFKC, then NFC), removal of invisible characters, jamo repair,
and one pass that sorts every character into a letter (Hangul syllable or Latin letter,
the latter folded to a-z), a joiner (hyphens, apostrophes, full stops: removed without
splitting), a separator (white space, other punctuation) or a character that makes the
name unusable.
"""

from __future__ import annotations

import unicodedata
from typing import Literal

from ..errors import IdentityInputError
from ._hangul import is_syllable, repair_jamo

__all__ = ["MAX_INPUT_LENGTH", "NOT_LETTERS", "Token", "normalise", "tokenize"]

#: Longest input accepted, in code points, before normalisation (§3.1).
MAX_INPUT_LENGTH = 100

NOT_LETTERS = (
    "name contains characters that are not Korean or Latin letters "
    "(write it in Hangul or in Latin letters, without digits or symbols)"
)

#: Hangul fillers: invisible, and used to make blank-looking names (§3.3).
_FILLERS = frozenset("\u115f\u1160\u3164\uffa0")
#: Apostrophes (MR's aspiration mark) and full stops: removed inside a token (§4).
_JOINERS = frozenset("'\u2019\u2018\u02bc\u02bb\u0060\u2032.")
#: Latin letters that do not decompose to a-z plus marks.
_LATIN_EXTRA = {"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ı": "i", "ł": "l", "đ": "d",
                "ð": "d", "þ": "th"}  # fmt: skip

TokenScript = Literal["hangul", "latin"]


class Token:
    """A maximal run of letters of one script: Hangul syllables, or a-z."""

    __slots__ = ("script", "text", "upper")

    def __init__(self, script: TokenScript, text: str, upper: bool) -> None:
        self.script = script
        self.text = text
        #: Latin only: every letter was written in capitals ("KIM").
        self.upper = upper

    def __repr__(self) -> str:  # pragma: no cover - debugging aid, never holds real data
        return f"Token({self.script!r}, {len(self.text)} letters)"


def _is_ignorable(ch: str) -> bool:
    o = ord(ch)
    return (
        ch in _FILLERS
        or unicodedata.category(ch) == "Cf"
        or 0xFE00 <= o <= 0xFE0F
        or 0xE0100 <= o <= 0xE01EF
    )


def normalise(text: str) -> str:
    """§3: length check, NFKC then NFC, invisible characters removed, jamo repaired."""
    if not isinstance(text, str):
        raise IdentityInputError("not_text", "name must be text")
    if len(text) > MAX_INPUT_LENGTH:
        raise IdentityInputError(
            "too_long", f"name is longer than {MAX_INPUT_LENGTH} characters (shorten it)"
        )
    text = unicodedata.normalize("NFC", unicodedata.normalize("NFKC", text))
    text = "".join(c for c in text if not _is_ignorable(c))
    return repair_jamo(text)


def _latin(ch: str) -> str | None:
    """``ch`` as a-z (lower case, marks dropped), or None if it is not a Latin letter."""
    low = ch.lower()
    if len(low) == 1 and "a" <= low <= "z":
        return low
    if low in _LATIN_EXTRA:
        return _LATIN_EXTRA[low]
    base = unicodedata.normalize("NFD", low)
    if "a" <= base[:1] <= "z" and all(unicodedata.category(m) == "Mn" for m in base[1:]):
        return base[0]
    return None


def tokenize(text: str) -> list[Token]:
    """§4: split normalised text into tokens; raise if any character is unusable."""
    tokens: list[Token] = []
    buf: list[str] = []
    script: TokenScript | None = None
    upper = True
    after_latin = False  # a combining mark is allowed right after a Latin letter only

    def flush() -> None:
        nonlocal script, upper
        if buf and script is not None:
            tokens.append(Token(script, "".join(buf), upper and script == "latin"))
        buf.clear()
        script, upper = None, True

    for ch in text:
        if is_syllable(ch):
            if script == "latin":
                flush()
            script = "hangul"
            buf.append(ch)
            after_latin = False
            continue
        latin = _latin(ch)
        if latin is not None:
            if script == "hangul":
                flush()
            script = "latin"
            upper = upper and ch.isupper()
            buf.append(latin)
            after_latin = True
            continue
        cat = unicodedata.category(ch)
        if cat == "Mn" and after_latin:
            continue  # a mark left on a Latin letter that NFC could not compose
        after_latin = False
        if ch in _JOINERS or cat == "Pd":
            continue
        if ch.isspace() or cat[0] == "P":
            flush()
            continue
        raise IdentityInputError("not_letters", NOT_LETTERS)
    flush()
    return tokens
