"""Keyed pseudonyms of identity answers (docs/spec/respondent-matching.md §3-§5).

The server turns the identity answers of each interview into *tokens*: truncated
HMAC-SHA256 values under a key derived from the project's store key, one per comparison
field, each field under its own label. The store keeps only tokens; two tokens are equal
exactly when the normalised values are equal (docs/spec/identity-normalisation.md).

Similarity without plaintext: the store holds one token per field and nothing that
relates one value to another (no neighbourhoods, no adjacent years). Similarity is
found from the *new* interview's side, while its plaintext is in memory during ingest:
:class:`Probe` expands it into the tokens of every value one edit away
(``letters_variants``) and of every nearby birth year, departure year and compatible
province (``demo_levels``), and a stored token is near if it is one of them.

A :class:`Probe` holds tokens only; it is built from plaintext and never keeps it.
"""

from __future__ import annotations

import hmac
import re
import unicodedata
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Final, Literal

import msgspec
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from schemas.errors import IdentityInputError
from schemas.identity import (
    NORMALISATION_VERSION,
    REGIONS,
    NormalizedName,
    normalize_name,
    normalize_province,
    to_jamo,
)

from ._identity import IdentityAnswers

__all__ = [
    "KEY_INFO",
    "TOKEN_BYTES",
    "TOKEN_VERSION",
    "Probe",
    "ProvinceLevel",
    "PseudonymKey",
    "StoredTokens",
    "letters_variants",
    "stored_tokens",
]

#: HKDF info for the pseudonym key (§3.1).
KEY_INFO: Final = b"sealsync/v1 respondent pseudonyms"
#: Bytes kept of each HMAC-SHA256 (§3.2): 128 bits.
TOKEN_BYTES: Final = 16
#: The version of the token scheme: fields, encodings and normalisation (§3.4).
TOKEN_VERSION: Final = NORMALISATION_VERSION
#: How far the probe looks from its own birth and departure years (§5.2).
YEAR_REACH: Final = 2
#: The subset of that reach used to find candidates (§6).
BLOCK_REACH: Final = 1

ProvinceLevel = Literal["same", "compatible", "unknown"]

_Token = Annotated[bytes, msgspec.Meta(min_length=TOKEN_BYTES, max_length=TOKEN_BYTES)]


class PseudonymKey:
    """The key of every token (§3.1): HKDF-SHA256 of the project's store key. Its repr
    shows nothing of it."""

    __slots__ = ("_base", "_fields")

    def __init__(self, store_key: bytes) -> None:
        if len(store_key) != 32:
            raise ValueError("the store key must be 32 bytes")
        key = HKDF(hashes.SHA256(), 32, None, KEY_INFO).derive(store_key)
        self._base = hmac.new(key, b"sealsync/v1 ", "sha256")
        self._fields: dict[str, Callable[..., bytes]] = {}

    def __repr__(self) -> str:
        return "PseudonymKey(…)"

    def field(self, name: str) -> Callable[..., bytes]:
        """The function from parts to the token of field ``name`` (§3.2)."""
        fn = self._fields.get(name)
        if fn is not None:
            return fn
        labelled = self._base.copy()
        labelled.update(name.encode("ascii") + b"\x00")

        def token(*parts: str) -> bytes:
            joined = "\x1f".join(parts)
            if joined.count("\x1f") != len(parts) - 1:
                raise ValueError("a token part holds U+001F")  # never from normalised values
            h = labelled.copy()
            h.update(joined.encode("utf-8"))
            return h.digest()[:TOKEN_BYTES]

        self._fields[name] = token
        return token


class StoredTokens(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """What the store keeps of one interview's identity (§4): one token per field, none
    for what was not answered. Stored as msgpack in ``respondents.tokens``."""

    exact: _Token | None = None
    folded: _Token | None = None
    skeleton: _Token | None = None
    letters: _Token | None = None
    surname: _Token | None = None
    given: _Token | None = None
    demo: _Token | None = None

    @property
    def named(self) -> bool:
        return self.folded is not None


# -- one-edit variants of a name's letters (§5.1) ----------------------------------------

_CONSONANTS = "ㄱㄲㄳㄴㄵㄶㄷㄸㄹㄺㄻㄼㄽㄾㄿㅀㅁㅂㅃㅄㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎ"
_VOWELS = "ㅏㅐㅑㅒㅓㅔㅕㅖㅗㅘㅙㅚㅛㅜㅝㅞㅟㅠㅡㅢㅣ"
_CLASS = {c: "C" for c in _CONSONANTS} | {v: "V" for v in _VOWELS}
_BY_CLASS = {"C": _CONSONANTS, "V": _VOWELS}
#: Letters of the romanization skeleton (identity-normalisation.md §8).
_SKELETON_LETTERS = "aeioywktpjshmnlg"
#: A string of jamo that syllables can be made of: consonant, vowel, optional final.
_SYLLABLES = re.compile(r"(?:CVC?)+")


def _hangul_variants(s: str) -> Iterator[str]:
    classes = "".join(_CLASS[c] for c in s)

    def ok(cls: str) -> bool:
        return _SYLLABLES.fullmatch(cls) is not None

    n = len(s)
    for i in range(n):
        for c in _BY_CLASS[classes[i]]:  # the class string is unchanged: still syllables
            yield s[:i] + c + s[i + 1 :]
        if ok(classes[:i] + classes[i + 1 :]):
            yield s[:i] + s[i + 1 :]
        if i + 1 < n and ok(classes[:i] + classes[i + 1] + classes[i] + classes[i + 2 :]):
            yield s[:i] + s[i + 1] + s[i] + s[i + 2 :]
    for i in range(n + 1):
        for cls, letters in _BY_CLASS.items():
            if ok(classes[:i] + cls + classes[i:]):
                for c in letters:
                    yield s[:i] + c + s[i:]


def _latin_variants(s: str) -> Iterator[str]:
    n = len(s)
    for i in range(n):
        yield s[:i] + s[i + 1 :]
        for c in _SKELETON_LETTERS:
            yield s[:i] + c + s[i + 1 :]
        if i + 1 < n:
            yield s[:i] + s[i + 1] + s[i] + s[i + 2 :]
    for i in range(n + 1):
        for c in _SKELETON_LETTERS:
            yield s[:i] + c + s[i:]


def letters_variants(letters: str) -> set[str]:
    """Every string at Damerau-Levenshtein distance 1 from ``letters`` (§5.1) that could
    be a name's letters: a leading ``h`` marks jamo (kept to strings that form syllables),
    ``l`` skeleton letters. The script mark itself is never edited."""
    mark, body = letters[:1], letters[1:]
    gen = _hangul_variants(body) if mark == "h" else _latin_variants(body)
    out = {mark + v for v in gen if v}
    out.discard(letters)
    return out


# -- the probe ---------------------------------------------------------------------------


def _exact(text: str) -> str:
    """§4: the name as written, up to Unicode form, case and white space."""
    nfc = unicodedata.normalize("NFC", unicodedata.normalize("NFKC", text))
    return "".join(nfc.casefold().split())


def _region(value: str | None) -> str:
    """The crosswalk code of a province answer, or "" when unknown or unreadable."""
    if value is None:
        return ""
    try:
        region = normalize_province(value)
    except IdentityInputError:
        return ""
    return region.code if region.compatible else ""


def _nearby_regions(code: str) -> dict[str, ProvinceLevel]:
    """§5.2: the stored region codes a probe region may meet, with their level."""
    if not code:
        known: dict[str, ProvinceLevel] = {c: "unknown" for c, r in REGIONS.items() if r.compatible}
        return known | {"": "unknown"}
    out: dict[str, ProvinceLevel] = {c: "compatible" for c in REGIONS[code].compatible}
    return out | {code: "same", "": "unknown"}


@dataclass(frozen=True, slots=True, repr=False)
class _Features:
    """The normalised identity of one interview (plaintext: never leaves this module)."""

    exact: str | None = None
    skey: str = ""  # folded surname, or "~" + its skeleton when not in the table
    folded: str = ""
    surname_folded: str | None = None
    surname_skeleton: str = ""
    given_skeleton: str = ""
    given_script: str = ""  # "h": the given name was written in Hangul; "l": in Latin
    given_consonants: str = ""
    letters: str = ""
    demo: tuple[str, int, int, str] | None = None  # sex, birth year, departure year, region

    @classmethod
    def of(cls, answers: IdentityAnswers) -> _Features:
        name: NormalizedName | None = None
        if answers.name is not None:
            try:
                name = normalize_name(answers.name)
            except IdentityInputError:
                name = None  # treated as not given (identity-normalisation.md §11)
        sex, by, dy = answers.sex, answers.birth_year, answers.departure_year
        demo = None
        if sex is not None and by is not None and dy is not None:
            demo = (sex, by, dy, _region(answers.province_of_origin))
        if name is None or answers.name is None:
            return cls(demo=demo)
        skey = name.surname_folded or "~" + name.surname_skeleton
        return cls(
            exact=_exact(answers.name),
            skey=skey,
            folded=skey + name.given_folded,
            surname_folded=name.surname_folded,
            surname_skeleton=name.surname_skeleton,
            given_skeleton=name.given_skeleton,
            given_script="h" if name.given_jamo else "l",
            given_consonants=name.given_consonants,
            letters=(
                "h" + to_jamo(name.surname_folded + name.given_folded)
                if name.surname_folded is not None and name.given_jamo
                else "l" + name.surname_skeleton + name.given_skeleton
            ),
            demo=demo,
        )


def _own_tokens(key: PseudonymKey, f: _Features) -> tuple[StoredTokens, tuple[bytes, ...]]:
    """§4 and §6: the tokens stored for an interview and those it is filed under."""
    stored: dict[str, bytes] = {}
    postings: list[bytes] = []
    if f.exact is not None:
        stored = {
            "exact": key.field("name.exact")(f.exact),
            "folded": key.field("name.folded")(f.folded),
            "skeleton": key.field("name.skeleton")(
                f.given_script, f.surname_skeleton, f.given_skeleton
            ),
            "letters": key.field("name.letters")(f.letters),
            "surname": key.field("name.surname")(f.skey),
        }
        if f.given_skeleton:
            stored["given"] = key.field("name.given")(f.given_skeleton)
        postings += [
            key.field("block.name")(f.skey, f.given_consonants),
            stored["letters"],
            stored["folded"],
        ]
    if f.demo is not None:
        sex, by, dy, region = f.demo
        parts = (sex, str(by), str(dy), region)
        stored["demo"] = key.field("demo")(*parts)
        postings.append(stored["demo"])
        postings.append(key.field("block.demo_surname")(*parts, f.skey))
        if f.exact is not None:
            postings.append(key.field("block.demo_given")(*parts, f.given_skeleton))
    return StoredTokens(**stored), tuple(dict.fromkeys(postings))


def stored_tokens(
    key: PseudonymKey, answers: IdentityAnswers
) -> tuple[StoredTokens, tuple[bytes, ...]]:
    """The tokens the store keeps for ``answers`` and the tokens it files them under:
    what ingest needs, at the cost of about ten HMACs (the expansions of a
    :class:`Probe` cost a few hundred and are left to the matcher)."""
    return _own_tokens(key, _Features.of(answers))


@dataclass(frozen=True, eq=False, repr=False)
class Probe:
    """A new interview as the matcher sees it: its own tokens, the tokens it is filed
    under, and the tokens of values near its own. Holds no plaintext."""

    record_id: uuid.UUID
    tokens: StoredTokens
    #: The tokens this interview is filed under in ``respondent_postings`` (§6).
    postings: tuple[bytes, ...]
    #: Tokens whose postings hold this interview's candidates (§6).
    lookups: frozenset[bytes]
    #: Tokens of the letters one edit away (§5.1).
    letters_variants: frozenset[bytes] = frozenset()
    #: The stored ``skeleton`` tokens that are this name's skeleton level (§5.1): a
    #: romanization meets Hangul and other romanizations; Hangul meets romanizations only.
    skeleton_matches: frozenset[bytes] = frozenset()
    #: Demographic token → (birth-year distance, departure-year distance, province level).
    demo_levels: dict[bytes, tuple[int, int, ProvinceLevel]] = field(default_factory=dict)
    #: The share of the population with this surname (weights table), for §7.3.
    surname_share: float | None = None

    def __repr__(self) -> str:
        return f"Probe({self.record_id})"

    @classmethod
    def build(
        cls,
        key: PseudonymKey,
        record_id: uuid.UUID,
        answers: IdentityAnswers,
        *,
        surname_share: Callable[[str], float | None] = lambda _: None,
    ) -> Probe:
        """The tokens of ``answers`` and of everything near them (§4-§6)."""
        f = _Features.of(answers)
        tokens, postings = _own_tokens(key, f)
        lookups: set[bytes] = set()
        variants: frozenset[bytes] = frozenset()
        skeletons: frozenset[bytes] = frozenset()
        named = f.exact is not None
        if named:
            skeleton = key.field("name.skeleton")
            scripts = ("l", "h") if f.given_script == "l" else ("l",)
            skeletons = frozenset(
                skeleton(x, f.surname_skeleton, f.given_skeleton) for x in scripts
            )
            letters = key.field("name.letters")
            variants = frozenset(letters(v) for v in letters_variants(f.letters))
            assert tokens.letters is not None
            lookups |= {key.field("block.name")(f.skey, f.given_consonants), tokens.letters}
            lookups |= variants
        demo_levels: dict[bytes, tuple[int, int, ProvinceLevel]] = {}
        if f.demo is not None:
            demo = key.field("demo")
            by_surname, by_given = key.field("block.demo_surname"), key.field("block.demo_given")
            sex, by, dy, region = f.demo
            nearby = _nearby_regions(region)
            for b in range(by - YEAR_REACH, by + YEAR_REACH + 1):
                for d in range(dy - YEAR_REACH, dy + YEAR_REACH + 1):
                    near = abs(b - by) <= BLOCK_REACH and abs(d - dy) <= BLOCK_REACH
                    for r, level in nearby.items():
                        parts = (sex, str(b), str(d), r)
                        demo_levels[demo(*parts)] = (abs(b - by), abs(d - dy), level)
                        if not near:
                            continue
                        if not named:
                            lookups.add(demo(*parts))
                            continue
                        lookups.add(by_surname(*parts, f.skey))
                        lookups.add(by_surname(*parts, ""))
                        lookups.add(by_given(*parts, f.given_skeleton))
        return cls(
            record_id=record_id,
            tokens=tokens,
            postings=postings,
            lookups=frozenset(lookups),
            letters_variants=variants,
            skeleton_matches=skeletons,
            demo_levels=demo_levels,
            surname_share=None if f.surname_folded is None else surname_share(f.surname_folded),
        )
