"""Names: surname and given name, folded (docs/spec/identity-normalisation.md §6, §9).

:func:`normalize_name` takes a respondent's name as written (Hangul, a romanization, or
both) and returns what every device and organisation computes identically from it: the
folded Hangul surname, the folded given name, its jamo and its romanization skeleton.
Nothing here stores or logs the name, and no error message contains it.
"""

from __future__ import annotations

import functools
from typing import Final, Literal

import msgspec

from ..errors import IdentityInputError
from ._hangul import fold_initial_sound, to_jamo
from ._romanize import romanize, skeleton, skeleton_and_consonants
from ._surnames import HANGUL_RANK, LATIN_SURNAMES, TWO_SYLLABLE_SURNAMES
from ._text import Token, normalise, tokenize

__all__ = ["NORMALISATION_VERSION", "NormalizedName", "Script", "normalize_name"]

#: The version of these rules (§1). Any change to an output for some input is a new version.
NORMALISATION_VERSION: Final = 1

Script = Literal["hangul", "latin", "mixed"]

EMPTY = "name has no letters once spaces and punctuation are removed (leave it blank instead)"
ONE_SYLLABLE = "name has only one syllable (write the surname and the given name)"
NO_GIVEN_NAME = "name in Latin letters needs the surname and the given name separated by a space"
MIXED = (
    "name mixes Korean and Latin letters in a way that cannot be read as surname and given "
    "name (write it in Hangul only, or in Latin letters only)"
)


class NormalizedName(msgspec.Struct, frozen=True, kw_only=True):
    """A name after normalisation v1 (§9). Personal data: keep it as you keep the name.

    Two names are *equal after folding* when their ``surname_folded`` and
    ``given_folded`` are equal; across scripts, compare ``surname_folded`` (the variant
    table puts romanized surnames in Hangul) and ``given_skeleton``.
    """

    #: :data:`NORMALISATION_VERSION` of the rules that produced this.
    version: int
    #: The script of the input's letters; "mixed" when it had both.
    script: Script
    #: The surname in Hangul, initial sound folded (§5): 이 for 리, Lee, Rhee, Ri, Yi.
    #: None for a romanized surname that is not in the variant table (§6.3).
    surname_folded: str | None
    #: The skeleton (§8) of the surname's RR (or of its spelling, when not in the table).
    surname_skeleton: str
    #: The given name: Hangul with the initial sound of its first syllable folded, or
    #: a-z (lower case, no spaces, hyphens or marks) when written in Latin letters.
    given_folded: str
    #: The folded Hangul given name as compatibility jamo (ㅇㅕㅇㅊㅓㄹ); "" if in Latin letters.
    given_jamo: str
    #: The romanization skeleton of the given name (§8): of its RR when in Hangul.
    given_skeleton: str
    #: The consonant classes of ``given_skeleton``: the blocking key for the given name.
    given_consonants: str


class _Part(msgspec.Struct, frozen=True):
    script: Literal["hangul", "latin"]
    text: str


def _hangul_split(tokens: list[Token]) -> tuple[_Part, _Part]:
    """§6.1: surname and given name of a name written in Hangul."""
    first, last = tokens[0].text, tokens[-1].text
    if len(tokens) >= 2 and (len(first) == 1 or first in TWO_SYLLABLE_SURNAMES):
        surname, given = first, "".join(t.text for t in tokens[1:])
    elif len(tokens) >= 2 and fold_initial_sound(last) in HANGUL_RANK:
        surname, given = last, "".join(t.text for t in tokens[:-1])
    else:
        whole = "".join(t.text for t in tokens)
        if len(whole) < 2:
            raise IdentityInputError("one_syllable", ONE_SYLLABLE)
        size = 2 if len(whole) >= 3 and whole[:2] in TWO_SYLLABLE_SURNAMES else 1
        surname, given = whole[:size], whole[size:]
    return _Part("hangul", surname), _Part("hangul", given)


def _latin_split(tokens: list[Token]) -> tuple[_Part, _Part]:
    """§6.2: surname and given name of a name written in Latin letters."""
    if len(tokens) < 2:
        raise IdentityInputError("no_given_name", NO_GIVEN_NAME)
    ends = [0, len(tokens) - 1]
    capitals = [i for i, t in enumerate(tokens) if t.upper and len(t.text) >= 2]
    if len(capitals) == 1 and capitals[0] in ends and not all(t.upper for t in tokens):
        pick = capitals[0]
    else:
        known = [(LATIN_SURNAMES[tokens[i].text][1], i) for i in ends
                 if tokens[i].text in LATIN_SURNAMES]  # fmt: skip
        pick = min(known)[1] if known else 0
    given = "".join(t.text for i, t in enumerate(tokens) if i != pick)
    return _Part("latin", tokens[pick].text), _Part("latin", given)


def _mixed_split(tokens: list[Token]) -> tuple[_Part, _Part]:
    """§6.4: a name with both Hangul and Latin letters."""
    hangul = [t for t in tokens if t.script == "hangul"]
    latin = [t for t in tokens if t.script == "latin"]
    syllables = sum(len(t.text) for t in hangul)
    if len(hangul) >= 2 or syllables >= 3:
        return _hangul_split(hangul)
    ends = (tokens[0], tokens[-1])
    h = hangul[0]
    if h in ends and fold_initial_sound(h.text) in HANGUL_RANK:
        return _Part("hangul", h.text), _Part("latin", "".join(t.text for t in latin))
    if len(latin) == 1 and latin[0] in ends and latin[0].text in LATIN_SURNAMES:
        return _Part("latin", latin[0].text), _Part("hangul", h.text)
    if syllables == 2:
        return _hangul_split(hangul)
    raise IdentityInputError("mixed_script", MIXED)


def normalize_name(text: str) -> NormalizedName:
    """Normalise a respondent's name (docs/spec/identity-normalisation.md §3-§9).

    Pure and deterministic. Raises :class:`~schemas.errors.IdentityInputError` (and
    nothing else) for input that is empty, too long, not Korean or Latin letters, or
    has Korean letters that do not form syllables; its message never contains the name.
    """
    tokens = tokenize(normalise(text))
    if not tokens:
        raise IdentityInputError("empty", EMPTY)
    scripts = {t.script for t in tokens}
    script: Script
    if scripts == {"hangul"}:
        script, (surname, given) = "hangul", _hangul_split(tokens)
    elif scripts == {"latin"}:
        script, (surname, given) = "latin", _latin_split(tokens)
    else:
        script, (surname, given) = "mixed", _mixed_split(tokens)

    if surname.script == "hangul":
        surname_folded: str | None = fold_initial_sound(surname.text)
        surname_skeleton = _hangul_skeleton(surname_folded)
    elif surname.text in LATIN_SURNAMES:
        surname_folded = LATIN_SURNAMES[surname.text][0]
        surname_skeleton = _hangul_skeleton(surname_folded)
    else:
        surname_folded, surname_skeleton = None, skeleton(surname.text)

    if given.script == "hangul":
        given_folded = fold_initial_sound(given.text)
        given_jamo, given_rr = to_jamo(given_folded), romanize(given_folded)
    else:
        given_folded, given_jamo, given_rr = given.text, "", given.text
    given_skeleton, given_consonants = skeleton_and_consonants(given_rr)
    return NormalizedName(
        version=NORMALISATION_VERSION,
        script=script,
        surname_folded=surname_folded,
        surname_skeleton=surname_skeleton,
        given_folded=given_folded,
        given_jamo=given_jamo,
        given_skeleton=given_skeleton,
        given_consonants=given_consonants,
    )


@functools.lru_cache(maxsize=1024)
def _hangul_skeleton(surname_folded: str) -> str:
    """The skeleton of a folded Hangul surname's RR: a few hundred surnames in all, so
    remembered (given names, personal as they are, are not kept)."""
    return skeleton(romanize(surname_folded))
