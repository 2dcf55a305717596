"""Provinces: a crosswalk, not a flat list (docs/spec/identity-normalisation.md §10).

The DPRK's provinces and cities have been split, merged and promoted over the years, so
two honest answers about the same home can name different regions: a respondent from
Rajin may say North Hamgyong or Rason depending on the year and on habit. Every region
therefore carries the set of codes it is *compatible* with (§10.2). The history is public
knowledge drawn from general references; verify it before relying on it for anything
but matching.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Literal

import msgspec

from ..errors import IdentityInputError
from ._hangul import fold_initial_sound, is_syllable
from ._romanize import skeleton

__all__ = ["REGIONS", "Region", "RegionKind", "normalize_province"]

RegionKind = Literal["province", "city", "special_region", "unknown"]

MAX_PROVINCE_LENGTH = 100

UNKNOWN_PROVINCE = (
    "province not recognised (use one of the form's province values, e.g. north_hamgyong, "
    "or its name in Korean or English)"
)
AMBIGUOUS_PROVINCE = (
    "province name is ambiguous: the province was split long ago (say North or South)"
)


class Region(msgspec.Struct, frozen=True, kw_only=True):
    """A canonical region of the crosswalk (§10.1), named by the form's choice value."""

    #: The canonical code: the choice value of the form's ``province`` list.
    code: str
    name_en: str
    name_ko: str
    kind: RegionKind
    #: Codes that may name the same place at another time, including ``code`` itself;
    #: empty for ``other_unknown``, which a matcher treats as missing (§10.2).
    compatible: frozenset[str]

    def compatible_with(self, other: Region) -> bool:
        """True if ``self`` and ``other`` may be the same place (the relation is symmetric)."""
        return other.code in self.compatible


# (code, English, Korean, kind) in the order of the form's list.
_REGIONS: tuple[tuple[str, str, str, RegionKind], ...] = (
    ("north_hamgyong", "North Hamgyong", "함경북도", "province"),
    ("south_hamgyong", "South Hamgyong", "함경남도", "province"),
    ("ryanggang", "Ryanggang", "량강도", "province"),
    ("chagang", "Chagang", "자강도", "province"),
    ("north_pyongan", "North Pyongan", "평안북도", "province"),
    ("south_pyongan", "South Pyongan", "평안남도", "province"),
    ("north_hwanghae", "North Hwanghae", "황해북도", "province"),
    ("south_hwanghae", "South Hwanghae", "황해남도", "province"),
    ("kangwon", "Kangwon", "강원도", "province"),
    ("pyongyang", "Pyongyang", "평양시", "city"),
    ("rason", "Rason", "라선시", "city"),
    ("nampo", "Nampo", "남포시", "city"),
    ("kaesong", "Kaesong", "개성시", "city"),
    ("sinuiju_sar", "Sinuiju Special Administrative Region", "신의주특별행정구",
     "special_region"),
    ("other_unknown", "Other / don't know", "기타 / 모름", "unknown"),
)  # fmt: skip

#: Pairs of regions that have covered the same ground (§10.2, table 10.2).
COMPATIBLE_PAIRS: tuple[tuple[str, str], ...] = (
    ("rason", "north_hamgyong"),  # Rajin and Sonbong counties; zone and city from 1993
    ("nampo", "south_pyongan"),  # Nampo within South Pyongan at times (e.g. 2004-2010)
    ("kaesong", "north_hwanghae"),  # Kaesong area part of North Hwanghae since 2003
    ("sinuiju_sar", "north_pyongan"),  # SAR declared 2002 around North Pyongan's capital
    ("ryanggang", "south_hamgyong"),  # Ryanggang split from South Hamgyong in 1954
    ("chagang", "north_pyongan"),  # Chagang split from North Pyongan in 1949
    ("pyongyang", "south_pyongan"),  # counties moved between them over the years
    ("pyongyang", "north_hwanghae"),  # southern counties moved to North Hwanghae in 2010
    ("north_hwanghae", "south_hwanghae"),  # Hwanghae split in 1954
    ("kangwon", "south_hamgyong"),  # the Wonsan area moved from South Hamgyong in 1946
)

# Free-text names (§10.3): region → Korean stems (no 도/시/군 suffix) and Latin names.
_KOREAN: dict[str, tuple[str, ...]] = {
    "north_hamgyong": ("함경북", "함북", "청진", "회령", "무산", "온성", "김책", "길주", "명천"),
    "south_hamgyong": ("함경남", "함남", "함흥", "흥남", "단천", "신포", "북청"),
    "ryanggang": ("량강", "혜산", "삼지연", "대홍단", "보천", "백암"),
    "chagang": ("자강", "강계", "만포", "희천"),
    "north_pyongan": ("평안북", "평북", "신의주", "정주", "구성", "룡천", "삭주", "의주"),
    "south_pyongan": ("평안남", "평남", "평성", "안주", "순천", "개천", "덕천"),
    "north_hwanghae": ("황해북", "황북", "사리원", "송림"),
    "south_hwanghae": ("황해남", "황남", "해주", "옹진", "신천", "안악"),
    "kangwon": ("강원", "원산", "문천"),
    "pyongyang": ("평양",),
    "rason": ("라선", "라진", "선봉", "라진선봉"),
    "nampo": ("남포", "진남포"),
    "kaesong": ("개성", "개성공업지구"),
    "sinuiju_sar": ("신의주특별행정구",),
    "other_unknown": ("기타", "모름", "기타모름", "알수없음"),
}
_LATIN: dict[str, tuple[str, ...]] = {
    "ryanggang": ("ryanggang", "hyesan", "samjiyon", "taehongdan", "pochon", "paegam"),
    "chagang": ("chagang", "kanggye", "manpo", "huichon"),
    "kangwon": ("kangwon", "wonsan", "munchon"),
    "pyongyang": ("pyongyang",),
    "rason": ("rason", "rajin", "sonbong", "rajinsonbong", "najin"),
    "nampo": ("nampo", "nampho", "chinnampo"),
    "kaesong": ("kaesong",),
    "north_hamgyong": ("hambuk", "chongjin", "hoeryong", "musan", "onsong", "kimchaek", "kilju",
                       "myongchon"),
    "south_hamgyong": ("hamnam", "hamhung", "hungnam", "tanchon", "sinpo", "pukchong"),
    "north_pyongan": ("pyongbuk", "sinuiju", "jongju", "kusong", "ryongchon", "sakju", "uiju"),
    "south_pyongan": ("pyongnam", "pyongsong", "anju", "sunchon", "kaechon", "tokchon"),
    "north_hwanghae": ("hwangbuk", "sariwon", "songnim"),
    "south_hwanghae": ("hwangnam", "haeju", "ongjin", "sinchon", "anak"),
    "other_unknown": ("other", "unknown", "dontknow", "otherunknown", "notknown"),
}  # fmt: skip
#: The provinces split in two, their stems, and how a direction is written (§10.3).
_SPLIT = ("hamgyong", "pyongan", "hwanghae")
_DIRECTION_PREFIX = {"north": ("north", "n", "northern"), "south": ("south", "s", "southern")}
_DIRECTION_SUFFIX = {"north": ("north", "bukto", "buk", "pukto", "puk"),
                     "south": ("south", "namdo", "nam")}  # fmt: skip
_AMBIGUOUS_KOREAN = ("함경", "평안", "황해")
#: Words dropped from Latin free text before matching (§10.3).
_FILLER = frozenset({"province", "prov", "city", "do", "to", "si", "gun", "county", "the", "of",
                     "directly", "governed", "municipality", "special", "administrative",
                     "region", "sar", "zone", "economic", "trade", "free", "and", "industrial",
                     "dprk", "korea"})  # fmt: skip
_SAR_MARKERS = frozenset({"special", "administrative", "region", "sar"})
_KOREAN_SUFFIXES = ("직할시", "특별시", "특급시", "시", "도", "군")
_APOSTROPHES = frozenset("'\u2019\u2018\u02bc\u02bb\u0060")


def _korean_key(text: str) -> str:
    stem = fold_initial_sound("".join(c for c in text if is_syllable(c)))
    for suffix in _KOREAN_SUFFIXES:
        if len(stem) > len(suffix) and stem.endswith(suffix):
            return stem[: -len(suffix)]
    return stem


def _latin_words(text: str) -> list[str]:
    words: list[str] = []
    cur: list[str] = []
    for ch in unicodedata.normalize("NFD", text.lower()):
        if "a" <= ch <= "z":
            cur.append(ch)
        elif ch in _APOSTROPHES or unicodedata.category(ch) == "Mn":
            continue
        elif cur:
            words.append("".join(cur))
            cur = []
    if cur:
        words.append("".join(cur))
    return words


def _latin_key(words: Iterable[str]) -> str:
    return skeleton("".join(w for w in words if w not in _FILLER))


def _build() -> tuple[Mapping[str, Region], dict[str, str], dict[str, str]]:
    compat: dict[str, set[str]] = {c: {c} for c, *_ in _REGIONS if c != "other_unknown"}
    for a, b in COMPATIBLE_PAIRS:
        compat[a].add(b)
        compat[b].add(a)
    regions = {
        code: Region(code=code, name_en=en, name_ko=ko, kind=kind,
                     compatible=frozenset(compat.get(code, ())))
        for code, en, ko, kind in _REGIONS
    }  # fmt: skip
    korean: dict[str, str] = {}
    latin: dict[str, str] = {}

    def add(table: dict[str, str], key: str, code: str) -> None:
        if table.setdefault(key, code) != code:  # pragma: no cover - a table error
            raise AssertionError(f"province key {key!r} names {table[key]} and {code}")

    for code, en, ko, _ in _REGIONS:
        add(korean, _korean_key(ko), code)
        if code != "sinuiju_sar":  # "Sinuiju" alone is the city, North Pyongan's capital
            add(latin, _latin_key(_latin_words(en)), code)
        for stem in _KOREAN.get(code, ()):
            add(korean, _korean_key(stem), code)
        for name in _LATIN.get(code, ()):
            add(latin, _latin_key([name]), code)
    for stem in _SPLIT:
        for direction in ("north", "south"):
            code = f"{direction}_{stem}"
            for p in _DIRECTION_PREFIX[direction]:
                add(latin, _latin_key([p, stem]), code)
            for s in _DIRECTION_SUFFIX[direction]:
                add(latin, _latin_key([stem, s]), code)
    return MappingProxyType(regions), korean, latin


#: Every canonical region, by code, in the order of the form's ``province`` list.
REGIONS, _BY_KOREAN, _BY_LATIN = _build()
_AMBIGUOUS_LATIN = frozenset(_latin_key([s]) for s in _SPLIT)
_SINUIJU = _latin_key(["sinuiju"])


def normalize_province(value: str) -> Region:
    """The canonical region for a form choice value or a free-text name (§10.3).

    Accepts the choice values (``north_hamgyong``), Korean names in North or South
    spelling with or without 도/시 (함경북도, 량강도, 양강, 라선시), English and romanized
    names (North Hamgyong, Hamgyong-bukto, Hamgyŏng-pukto, Ryanggang, Rajin-Sonbong) and
    the main cities (청진, Hyesan). Raises :class:`~schemas.errors.IdentityInputError`,
    whose message never contains the input, for anything else.
    """
    if not isinstance(value, str):
        raise IdentityInputError("not_text", "province must be text")
    if len(value) > MAX_PROVINCE_LENGTH:
        raise IdentityInputError(
            "too_long", f"province is longer than {MAX_PROVINCE_LENGTH} characters (shorten it)"
        )
    text = unicodedata.normalize("NFC", unicodedata.normalize("NFKC", value)).strip()
    if text in REGIONS:
        return REGIONS[text]
    if any(is_syllable(c) for c in text):
        key = _korean_key(text)
        if key in _AMBIGUOUS_KOREAN:
            raise IdentityInputError("ambiguous_province", AMBIGUOUS_PROVINCE)
        code = _BY_KOREAN.get(key)
    else:
        words = _latin_words(text)
        key = _latin_key(words)
        if key in _AMBIGUOUS_LATIN:
            raise IdentityInputError("ambiguous_province", AMBIGUOUS_PROVINCE)
        code = _BY_LATIN.get(key) if key else None
        if code == "north_pyongan" and key == _SINUIJU and _SAR_MARKERS.intersection(words):
            code = "sinuiju_sar"
    if code is None:
        raise IdentityInputError("unknown_province", UNKNOWN_PROVINCE)
    return REGIONS[code]
