"""Romanization and the romanization skeleton (docs/spec/identity-normalisation.md §7, §8).

:func:`romanize` transliterates Hangul syllables with the letter tables of the Revised
Romanization of Korean (2000), syllable by syllable and without sound changes, as RR
prescribes for personal names. :func:`skeleton` reduces any romanization (RR,
McCune-Reischauer with its breves and apostrophes stripped, or the ad-hoc spellings of
passports and visas) to classes of sounds, so that "Yongchol", "Young-chul",
"Yeong Cheol" and the RR of 영철 all give ``yongjol``.
"""

from __future__ import annotations

import re

from ._hangul import decompose, is_syllable

__all__ = ["consonants", "romanize", "skeleton"]

_RR_INITIAL = ("g", "kk", "n", "d", "tt", "r", "m", "b", "pp", "s", "ss", "", "j", "jj", "ch",
               "k", "t", "p", "h")  # fmt: skip
_RR_VOWEL = ("a", "ae", "ya", "yae", "eo", "e", "yeo", "ye", "o", "wa", "wae", "oe", "yo", "u",
             "wo", "we", "wi", "yu", "eu", "ui", "i")  # fmt: skip
_RR_FINAL = ("", "k", "k", "k", "n", "n", "n", "t", "l", "k", "m", "l", "l", "l", "p", "l", "m",
             "p", "p", "t", "t", "ng", "t", "t", "k", "t", "p", "t")  # fmt: skip
_RIEUL = 5
_FINAL_RIEUL = 8


def romanize(text: str) -> str:
    """Revised Romanization of the Hangul syllables in ``text``, letter by letter (§7).

    Initial ㄹ after a final ㄹ is written ``l`` (RR's ``ll``); no other sound change is
    applied. Characters other than Hangul syllables are copied unchanged.
    """
    out: list[str] = []
    prev_final = 0
    for ch in text:
        if not is_syllable(ch):
            out.append(ch)
            prev_final = 0
            continue
        lead, vowel, tail = decompose(ch)
        initial = "l" if lead == _RIEUL and prev_final == _FINAL_RIEUL else _RR_INITIAL[lead]
        out.append(initial + _RR_VOWEL[vowel] + _RR_FINAL[tail])
        prev_final = tail
    return "".join(out)


# Spellings and the class each stands for (§8, table 8.2). Longest match first; a spelling
# may stand for two classes ("oe" is w+e).
_UNITS: dict[str, tuple[str, ...]] = {
    # vowels and glides
    "wae": ("w", "e"), "woe": ("w", "e"), "weo": ("w", "o"), "woo": ("o",), "eui": ("i",),
    "yeo": ("y", "o"),
    "we": ("w", "e"), "oe": ("w", "e"), "oi": ("w", "e"), "wo": ("w", "o"), "wu": ("o",),
    "wa": ("w", "a"), "wi": ("w", "i"), "ui": ("i",), "ee": ("i",), "yi": ("i",),
    "eo": ("o",), "eu": ("o",), "ou": ("o",), "oo": ("o",), "ae": ("e",), "ai": ("e",),
    "a": ("a",), "e": ("e",), "i": ("i",), "o": ("o",), "u": ("o",), "y": ("y",), "w": ("w",),
    # consonants
    "tch": ("j",), "ch": ("j",), "jj": ("j",), "j": ("j",), "z": ("j",),
    "ng": ("ng",),
    "kk": ("k",), "gg": ("k",), "ck": ("k",), "kh": ("k",), "gh": ("k",),
    "k": ("k",), "g": ("k",), "q": ("k",), "c": ("k",),
    "tt": ("t",), "dd": ("t",), "th": ("t",), "t": ("t",), "d": ("t",),
    "pp": ("p",), "bb": ("p",), "ph": ("p",), "p": ("p",), "b": ("p",), "f": ("p",), "v": ("p",),
    "ss": ("s",), "sh": ("s",), "s": ("s",), "x": ("s",),
    "h": ("h",), "m": ("m",), "n": ("n",), "l": ("l",), "r": ("l",),
}  # fmt: skip
_VOWELS = frozenset({"a", "e", "i", "o", "y", "w"})
_CONSONANTS = frozenset({"k", "t", "p", "j", "s", "h", "m", "n", "l", "ng"})
_FRONT = frozenset("yi")


def _initial_sound(w: str) -> str:
    """The initial-sound rule on romanized text (§8.1), the mirror of §5."""
    if w.startswith("rh"):
        w = "r" + w[2:]
    if w[:1] in ("r", "l"):
        w = w[1:] if (w[1:2] in _FRONT or w[1:3] == "ee") else "n" + w[1:]
    if w[:1] == "n" and (w[1:2] in _FRONT or w[1:3] == "ee"):
        w = w[1:]
    return w


#: The spellings of §8.2, longest first: at each position the regular expression takes the
#: first alternative that matches, which is the longest spelling there (every letter a-z
#: is a spelling, so the whole string is read).
_SPELLINGS = re.compile("|".join(sorted(_UNITS, key=lambda k: (-len(k), k))))
_NOT_AZ = re.compile("[^a-z]+")


def _units(text: str) -> list[str]:
    w = _initial_sound(_NOT_AZ.sub("", text.lower()))
    units: list[str] = []
    for spelling in _SPELLINGS.findall(w):
        units.extend(_UNITS[spelling])
    # §8.3: a silent h (not before a vowel or glide) is dropped ("Ahn", "Oh", "Bahk").
    units = [u for j, u in enumerate(units)
             if u != "h" or (j + 1 < len(units) and units[j + 1] in _VOWELS)]  # fmt: skip
    # §8.3: a run of two or more n/l is one l (MR 'Chinnyŏl', RR 'Jinryeol', 'Jillyeol');
    # an l after any other consonant is n (MR 'Chŏngnyŏl' for RR 'Jeongryeol').
    merged: list[str] = []
    for u in units:
        if u in ("n", "l") and merged and merged[-1] in ("n", "l"):
            merged[-1] = "l"
        elif u == "l" and merged and merged[-1] in _CONSONANTS:
            merged.append("n")
        else:
            merged.append(u)
    # §8.3: runs of one class are one ("kg" in "Pakgi", "oo" across syllables).
    return [u for j, u in enumerate(merged) if j == 0 or merged[j - 1] != u]


def skeleton(text: str) -> str:
    """The romanization skeleton of ``text`` (§8): lower-case sound classes.

    Only the letters a-z of ``text`` (case-insensitive) are read; strip diacritics first.
    Vowels: ``a``; ``e`` (ae, e, ai); ``i`` (i, ee, ui, yi); ``o`` (eo, o, u, eu, oo, ou);
    glides ``y`` and ``w``. Consonants: ``k`` (k, g, kk, q, c), ``t`` (t, d, tt, th), ``p``
    (p, b, pp, f, v), ``j`` (j, ch, tch, jj, z), ``s`` (s, sh, ss, x), ``h``, ``m``, ``n``,
    ``l`` (l, r) and ``ng``.
    """
    return "".join(_units(text))


def consonants(text: str) -> str:
    """The consonant classes of :func:`skeleton` (``text``), in order: a blocking key."""
    return "".join(u for u in _units(text) if u in _CONSONANTS)


def skeleton_and_consonants(text: str) -> tuple[str, str]:
    """(:func:`skeleton`, :func:`consonants`) of ``text``, reading it once."""
    units = _units(text)
    return "".join(units), "".join(u for u in units if u in _CONSONANTS)
