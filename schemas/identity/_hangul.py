"""Hangul syllables and jamo (docs/spec/identity-normalisation.md §3.2, §5).

Syllable arithmetic (Unicode §3.12), the repair of stray jamo left by an input method
that did not compose (§3.2), the initial-sound fold between North and South Korean
spelling (§5), and the decomposition of syllables into compatibility jamo for
similarity measures.
"""

from __future__ import annotations

from ..errors import IdentityInputError

__all__ = [
    "STRAY_JAMO",
    "compose",
    "decompose",
    "fold_initial_sound",
    "is_conjoining_jamo",
    "is_syllable",
    "repair_jamo",
    "to_jamo",
]

_S_BASE, _L_BASE, _V_BASE, _T_BASE = 0xAC00, 0x1100, 0x1161, 0x11A7
_V_COUNT, _T_COUNT = 21, 28
_S_LAST = 0xD7A3

# Initial consonant indices (Unicode order): ㄱ0 ㄲ1 ㄴ2 ㄷ3 ㄸ4 ㄹ5 ㅁ6 ㅂ7 ㅃ8 ㅅ9 ㅆ10 ㅇ11
# ㅈ12 ㅉ13 ㅊ14 ㅋ15 ㅌ16 ㅍ17 ㅎ18. Vowels: ㅏ0 ㅐ1 ㅑ2 ㅒ3 ㅓ4 ㅔ5 ㅕ6 ㅖ7 ㅗ8 ㅘ9 ㅙ10
# ㅚ11 ㅛ12 ㅜ13 ㅝ14 ㅞ15 ㅟ16 ㅠ17 ㅡ18 ㅢ19 ㅣ20. Finals: 0 none, 1..27 as in Unicode.
_L_NIEUN, _L_RIEUL, _L_IEUNG = 2, 5, 11
#: Vowels before which initial ㄹ and ㄴ become ㅇ (§5): ㅑ ㅒ ㅕ ㅖ ㅛ ㅠ ㅣ.
_IY_VOWELS = frozenset({2, 3, 6, 7, 12, 17, 20})

#: A consonant typed as a leading jamo, as a final (None: ㄸ ㅃ ㅉ cannot end a syllable).
_LEAD_AS_TAIL: tuple[int | None, ...] = (
    1, 2, 4, 7, None, 8, 16, 17, None, 19, 20, 21, 22, None, 23, 24, 25, 26, 27,
)  # fmt: skip
#: Two finals that make one double final: ㄳ ㄵ ㄶ ㄺ ㄻ ㄼ ㄽ ㄾ ㄿ ㅀ ㅄ.
_DOUBLE_TAIL = {
    (1, 19): 3, (4, 22): 5, (4, 27): 6, (8, 1): 9, (8, 16): 10, (8, 17): 11,
    (8, 19): 12, (8, 25): 13, (8, 26): 14, (8, 27): 15, (17, 19): 18,
}  # fmt: skip
#: Two vowels that make one compound vowel: ㅘ ㅙ ㅚ ㅝ ㅞ ㅟ ㅢ.
#: NFKC maps compatibility ㅀ and ㅄ to archaic *initials*; as stray jamo they are finals.
_INITIAL_AS_DOUBLE_TAIL = {0x111A: 15, 0x1121: 18}
_COMPOUND_VOWEL = {(8, 0): 9, (8, 1): 10, (8, 20): 11, (13, 4): 14, (13, 5): 15, (13, 20): 16,
                   (18, 20): 19}  # fmt: skip

STRAY_JAMO = (
    "name contains Korean letters that do not form syllables "
    "(retype it in whole syllables, e.g. with the Korean keyboard's composition on)"
)


def is_syllable(ch: str) -> bool:
    """True for a precomposed Hangul syllable (U+AC00..U+D7A3)."""
    return _S_BASE <= ord(ch) <= _S_LAST


def is_conjoining_jamo(ch: str) -> bool:
    """True for a conjoining jamo: U+1100..U+11FF, U+A960..U+A97F, U+D7B0..U+D7FF."""
    o = ord(ch)
    return 0x1100 <= o <= 0x11FF or 0xA960 <= o <= 0xA97F or 0xD7B0 <= o <= 0xD7FF


def decompose(ch: str) -> tuple[int, int, int]:
    """(initial, vowel, final) indices of a Hangul syllable; final 0 means none."""
    s = ord(ch) - _S_BASE
    return s // (_V_COUNT * _T_COUNT), (s % (_V_COUNT * _T_COUNT)) // _T_COUNT, s % _T_COUNT


def compose(lead: int, vowel: int, tail: int = 0) -> str:
    """The Hangul syllable with these (initial, vowel, final) indices."""
    return chr(_S_BASE + (lead * _V_COUNT + vowel) * _T_COUNT + tail)


def _kind(ch: str) -> str:
    o = ord(ch)
    if _S_BASE <= o <= _S_LAST:
        return "S"
    if 0x1100 <= o <= 0x1112:
        return "L"
    if 0x1161 <= o <= 0x1175:
        return "V"
    if 0x11A8 <= o <= 0x11C2 or o in _INITIAL_AS_DOUBLE_TAIL:
        return "T"
    if is_conjoining_jamo(ch):
        return "X"  # archaic jamo or a filler left in: cannot be repaired
    return "-"


def repair_jamo(text: str) -> str:
    """Compose stray modern jamo into the syllable before them (§3.2), or refuse.

    ``text`` is NFKC+NFC normalised, so compatibility jamo have become conjoining jamo
    and every modern initial+vowel(+final) sequence is already one syllable. What is
    left: a consonant after a syllable with no final (becomes its final unless a vowel
    follows), a consonant or final after a single final that together make a double
    final, a vowel after an open syllable that together make a compound vowel. Anything
    else (a jamo with no syllable before it, an archaic jamo) raises
    :class:`IdentityInputError`.
    """
    if not any(is_conjoining_jamo(c) for c in text):
        return text
    out: list[str] = []
    prev: tuple[int, int, int] | None = None  # the open syllable ``out[-1]``, if any
    n = len(text)
    for i, ch in enumerate(text):
        kind = _kind(ch)
        nxt = _kind(text[i + 1]) if i + 1 < n else "-"
        if kind == "S":
            prev = decompose(ch)
            out.append(ch)
            continue
        if kind == "-":
            prev = None
            out.append(ch)
            continue
        if kind == "X" or prev is None:
            raise IdentityInputError("stray_jamo", STRAY_JAMO)
        lead, vowel, tail = prev
        if kind == "L" and nxt == "V":  # cannot happen after NFC; refuse rather than guess
            raise IdentityInputError("stray_jamo", STRAY_JAMO)
        if kind == "V":
            compound = _COMPOUND_VOWEL.get((vowel, ord(ch) - _V_BASE)) if tail == 0 else None
            if compound is None:
                raise IdentityInputError("stray_jamo", STRAY_JAMO)
            prev = (lead, compound, 0)
        else:
            if kind == "L":
                new_tail = _LEAD_AS_TAIL[ord(ch) - _L_BASE]
            else:
                new_tail = _INITIAL_AS_DOUBLE_TAIL.get(ord(ch), ord(ch) - _T_BASE)
            if new_tail is None:
                raise IdentityInputError("stray_jamo", STRAY_JAMO)
            combined = new_tail if tail == 0 else _DOUBLE_TAIL.get((tail, new_tail))
            if combined is None:
                raise IdentityInputError("stray_jamo", STRAY_JAMO)
            prev = (lead, vowel, combined)
        out[-1] = compose(*prev)
    return "".join(out)


def fold_initial_sound(word: str) -> str:
    """Fold the initial sound of ``word``'s first syllable to the South Korean form (§5).

    Initial ㄹ becomes ㅇ before ㅑ ㅒ ㅕ ㅖ ㅛ ㅠ ㅣ and ㄴ elsewhere; initial ㄴ becomes ㅇ
    before ㅑ ㅒ ㅕ ㅖ ㅛ ㅠ ㅣ. So 리/이, 류/유, 림/임, 량/양, 렬/열, 녀/여 fold to the second
    form and 로/노, 라/나, 래/내 to ㄴ. Vowel and final are kept; the rest of ``word`` is
    returned unchanged, as is a word that does not start with a Hangul syllable.
    """
    if not word or not is_syllable(word[0]):
        return word
    lead, vowel, tail = decompose(word[0])
    if lead == _L_RIEUL:
        lead = _L_IEUNG if vowel in _IY_VOWELS else _L_NIEUN
    elif lead == _L_NIEUN and vowel in _IY_VOWELS:
        lead = _L_IEUNG
    return compose(lead, vowel, tail) + word[1:]


_COMPAT_LEAD = "ㄱㄲㄴㄷㄸㄹㅁㅂㅃㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎ"
_COMPAT_VOWEL = "ㅏㅐㅑㅒㅓㅔㅕㅖㅗㅘㅙㅚㅛㅜㅝㅞㅟㅠㅡㅢㅣ"
_COMPAT_TAIL = " ㄱㄲㄳㄴㄵㄶㄷㄹㄺㄻㄼㄽㄾㄿㅀㅁㅂㅄㅅㅆㅇㅈㅊㅋㅌㅍㅎ"  # index 0: no final
#: Every syllable to its compatibility jamo, for ``str.translate`` (11,172 entries).
_TO_JAMO = {
    _S_BASE + s: _COMPAT_LEAD[s // (_V_COUNT * _T_COUNT)]
    + _COMPAT_VOWEL[(s % (_V_COUNT * _T_COUNT)) // _T_COUNT]
    + _COMPAT_TAIL[s % _T_COUNT].strip()
    for s in range(_S_LAST - _S_BASE + 1)
}


def to_jamo(syllables: str) -> str:
    """Hangul syllables as Hangul compatibility jamo, one per letter: 영철 → ㅇㅕㅇㅊㅓㄹ.

    Compatibility jamo (U+3131..U+318E) rather than conjoining jamo, so that no
    normalising layer in between (a database, a JSON library) can recompose them. The
    same as the ``jamo`` library's ``j2hcj(h2j(s))`` (a test checks every syllable), by
    Unicode's syllable arithmetic in one table lookup; other characters are kept.
    """
    return syllables.translate(_TO_JAMO)
